package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/ftps3/ftps3/app/auth"
	"github.com/ftps3/ftps3/app/config"
	"github.com/ftps3/ftps3/app/ftp"
	"github.com/ftps3/ftps3/app/hostaddr"
	"github.com/ftps3/ftps3/app/objfs"
	"github.com/ftps3/ftps3/app/promtext"
	"github.com/ftps3/ftps3/app/storage"
	"github.com/ftps3/ftps3/app/storage/bufpool"
	"github.com/ftps3/ftps3/app/storage/filestore"
	"github.com/ftps3/ftps3/app/storage/s3store"
)

// The steps of run that map the configuration onto the gateway's parts.

// storageSetup is the store with what belongs to it: the upload buffer pool
// and, for S3, the store's own handle (background aborts, metrics).
type storageSetup struct {
	store storage.Store
	fs    *objfs.FS // the view both front doors share
	pool  *bufpool.Pool
	s3    *s3store.Store // nil for the local-directory store
	where string         // for logs: s3://bucket or the directory
}

var _ promtext.Source = (*storageSetup)(nil)

// openStorage opens the configured store. An S3 bucket that cannot be
// reached is logged, not fatal: S3 may be briefly unreachable, and a restart
// loop would not help.
func openStorage(ctx context.Context, cfg *config.Config, log *slog.Logger) (*storageSetup, error) {
	st := &storageSetup{pool: bufpool.New(cfg.UploadMemoryLimit)}
	if os.Getenv("GOMEMLIMIT") == "" {
		// Pooled part buffers are live heap; without a limit the garbage
		// collector would let garbage grow as large as them.
		debug.SetMemoryLimit(cfg.UploadMemoryLimit + 256<<20)
	}
	if cfg.Storage != "s3" {
		fs, err := filestore.New(cfg.StorageDir, cfg.Checksums.Algorithms...)
		if err != nil {
			return nil, fmt.Errorf("FTP_STORAGE_DIR: %w", err)
		}
		st.store, st.where = fs, cfg.StorageDir
		st.view(cfg)
		return st, nil
	}
	client, err := s3store.NewClient(ctx, s3store.ClientOptions{
		Region: cfg.S3.Region, Endpoint: cfg.S3.Endpoint, PathStyle: cfg.S3.PathStyle,
		AccessKeyID: cfg.S3.AccessKeyID, SecretAccessKey: cfg.S3.SecretAccessKey,
		InsecureSkipVerify: !cfg.S3.VerifyCerts,
	})
	if err != nil {
		return nil, err
	}
	s3s, err := s3store.New(client, s3store.Options{Bucket: cfg.S3.Bucket, PartSize: cfg.UploadPartSize,
		BuffersPerUpload: cfg.UploadBuffers, MaxBuffersPerUpload: cfg.UploadMaxBuffers, Pool: st.pool,
		Checksums: cfg.Checksums.Algorithms, ResumeWindow: cfg.ResumeWindow, Logger: log})
	if err != nil {
		return nil, err
	}
	st.store, st.s3, st.where = s3s, s3s, "s3://"+cfg.S3.Bucket
	st.view(cfg)
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := s3s.Check(cctx); err != nil {
		log.Error("cannot reach the bucket: check AWS_S3_BUCKET_NAME, the endpoint and the credentials", "err", err)
	} else if cfg.UploadStaleAge > 0 {
		go abortStale(s3s, cfg.UploadStaleAge, log)
	}
	if cfg.ResumeWindow > 0 {
		go sweepPending(s3s, log)
	}
	return st, nil
}

// view makes the file-system view over the store.
func (st *storageSetup) view(cfg *config.Config) {
	st.fs = objfs.New(st.store, cfg.S3.DirSuffix)
	c := cfg.Checksums
	st.fs.SetSumOptions(objfs.SumOptions{ComputeMissing: c.ComputeMissing, MaxSize: c.ComputeMaxSize, Concurrent: c.ComputeAtOnce})
}

// abortStale clears what killed gateways left behind (see AbortStale), in
// the background: serving does not wait for it.
func abortStale(s *s3store.Store, age time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	n, err := s.AbortStale(ctx, age)
	if err != nil {
		log.Warn("could not clear stale incomplete multipart uploads (the bucket's lifecycle rule is the backstop)", "err", err, "aborted", n)
		return
	}
	log.Info("stale incomplete multipart uploads cleared", "aborted", n, "older_than", age.String())
}

// sweepPending discards, every hour, the pending (cut, resumable) uploads
// whose UPLOAD_RESUME_WINDOW ended, so S3 does not bill their parts until
// the next start or the lifecycle rule.
func sweepPending(s *s3store.Store, log *slog.Logger) {
	for range time.Tick(time.Hour) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		_, n, err := s.SweepPending(ctx)
		cancel()
		switch {
		case err != nil:
			log.Warn("could not sweep pending uploads", "err", err)
		case n > 0:
			log.Info("pending uploads past their resume window discarded", "count", n)
		}
	}
}

// WritePrometheus implements promtext.Source: the upload buffer memory, the
// multipart aborts still to retry and the requests sent to S3.
func (st *storageSetup) WritePrometheus(w io.Writer) {
	held, alloc, peak := st.pool.Stats()
	promtext.Gauge(w, "ftps3_upload_buffer_bytes_held", "Upload part buffer memory held by uploads now.", float64(held))
	promtext.Gauge(w, "ftps3_upload_buffer_bytes_allocated", "Upload part buffer memory allocated (held or free in the pool).", float64(alloc))
	promtext.Gauge(w, "ftps3_upload_buffer_bytes_limit", "Upload part buffer memory budget (FTP_UPLOAD_MEMORY_LIMIT).", float64(st.pool.Limit()))
	promtext.Gauge(w, "ftps3_upload_buffer_bytes_peak", "Highest upload part buffer memory held since start.", float64(peak))
	if st.s3 != nil {
		promtext.Gauge(w, "ftps3_multipart_aborts_pending", "Multipart uploads whose abort failed and is being retried.", float64(st.s3.PendingAborts()))
		var samples []promtext.Sample
		for _, rc := range st.s3.Requests() {
			samples = append(samples, promtext.Sample{Labels: map[string]string{"operation": rc.Operation}, Value: float64(rc.Requests)})
		}
		promtext.Labelled(w, "ftps3_s3_requests_total", "Requests sent to S3 (each attempt), by operation.", "counter", samples...)
	}
}

// close waits briefly for the multipart aborts still being retried.
func (st *storageSetup) close(log *slog.Logger) {
	if st.s3 == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := st.s3.Close(ctx); err != nil {
		log.Error("incomplete multipart uploads left for the lifecycle rule", "err", err)
	}
}

// newFTPServer maps the configuration onto the FTPS front door.
func newFTPServer(cfg *config.Config, st *storageSetup, users *auth.Users, throttle *auth.Throttle, log *slog.Logger) (*ftp.Server, *ftp.Metrics, error) {
	tlsCfg, generated, err := tlsConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	if generated {
		log.Warn("no certificate at FTP_TLS_CERT_FILE/FTP_TLS_KEY_FILE: using a self-signed one (clients must skip verification)", "cert_file", cfg.TLSCertFile)
	}
	metrics := &ftp.Metrics{}
	srv, err := ftp.New(ftp.Options{
		FS:    st.fs,
		Users: users, Throttle: throttle,
		TLS: tlsCfg, TLSMode: tlsModes[cfg.TLSMode], TLSSessionReuse: tlsReuse[cfg.TLSReuse],
		DataPortsFirst: cfg.DataPortsFirst, DataPortsCount: cfg.DataPortsCount, Passive: passiveRules(cfg.DataCIDRs),
		IdleTimeout: cfg.IdleTimeout, LoginTimeout: cfg.LoginTimeout, DataIdleTimeout: cfg.DataIdleTimeout,
		MaxConnections: cfg.MaxConns, MaxConnectionsPerAddress: cfg.MaxConnsPerAddr, MaxLoginsPendingPerAddress: cfg.MaxPendingLogins,
		RequireCloseNotify: cfg.RequireCloseNotify,
		Metrics:            metrics, Logger: log,
	})
	return srv, metrics, err
}

// tlsModes maps FTP_TLS_MODE's names (config validates them) onto the modes.
var tlsModes = map[string]ftp.TLSMode{
	config.TLSAuto: ftp.TLSAuto, config.TLSImplicit: ftp.TLSImplicit, config.TLSExplicit: ftp.TLSExplicit,
}

// tlsReuse maps FTP_TLS_SESSION_REUSE's names onto the settings.
var tlsReuse = map[string]ftp.SessionReuse{
	config.TLSReuseRequired: ftp.ReuseRequired, config.TLSReuseOptional: ftp.ReuseOptional,
}

// passiveRules maps FTP_DATA_CIDR_TO_DOMAINS onto PASV address rules.
func passiveRules(cidrs []config.DataCIDR) []ftp.PassiveRule {
	rules := make([]ftp.PassiveRule, len(cidrs))
	for i, c := range cidrs {
		rules[i] = ftp.PassiveRule{Net: c.Net, Address: c.Domain}
		if c.Domain == config.PassiveFromEC2 {
			rules[i].Lookup = hostaddr.PrivateIPv4
		}
	}
	return rules
}

// Command ftps3 is an FTPS gateway to Amazon S3 (or any S3-compatible store,
// or a local directory): FTP over TLS, implicit and explicit, passive mode;
// uploads stream to S3 as multipart uploads with bounded memory, and nothing
// partial is ever left visible.
//
// Configuration comes from environment variables (aioftps3's, plus FTP_*
// settings): see README.md. With none, it serves ./data with a generated user.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/ftps3/ftps3/app/auth"
	"github.com/ftps3/ftps3/app/config"
	"github.com/ftps3/ftps3/app/ftp"
	"github.com/ftps3/ftps3/app/health"
	"github.com/ftps3/ftps3/app/storage"
	"github.com/ftps3/ftps3/app/storage/bufpool"
	"github.com/ftps3/ftps3/app/storage/filestore"
	"github.com/ftps3/ftps3/app/storage/s3store"

	// Mozilla's root certificates, used when the system has none (the
	// image is FROM scratch): S3's certificate is verified either way.
	_ "golang.org/x/crypto/x509roots/fallback"
)

func main() {
	healthcheck := flag.Bool("healthcheck", false, "probe the running gateway's /healthz (for container health checks) and exit 0 if healthy")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [-healthcheck]\n\nftps3 is configured by environment variables; see README.md.\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if *healthcheck {
		os.Exit(probe())
	}
	if err := run(context.Background(), os.Environ(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ftps3:", err)
		os.Exit(1)
	}
}

// run starts the gateway and serves until SIGTERM or SIGINT, then drains.
func run(ctx context.Context, environ []string, out io.Writer) error {
	cfg, err := config.Load(environ)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := newLogger(cfg, out)

	tlsCfg, generated, err := tlsConfig(cfg)
	if err != nil {
		return err
	}
	if generated {
		log.Warn("no certificate at FTP_TLS_CERT_FILE/FTP_TLS_KEY_FILE: using a self-signed one (clients must skip verification)", "cert_file", cfg.TLSCertFile)
	}

	pool := bufpool.New(cfg.UploadMemoryLimit)
	if os.Getenv("GOMEMLIMIT") == "" {
		// Pooled part buffers are live heap; without a limit the garbage
		// collector would let garbage grow as large as them.
		debug.SetMemoryLimit(cfg.UploadMemoryLimit + 256<<20)
	}
	metrics := &health.Metrics{}
	var store storage.Store
	var s3s *s3store.Store
	switch cfg.Storage {
	case "s3":
		client, err := s3store.NewClient(ctx, s3store.ClientOptions{
			Region: cfg.S3.Region, Endpoint: cfg.S3.Endpoint, PathStyle: cfg.S3.PathStyle,
			AccessKeyID: cfg.S3.AccessKeyID, SecretAccessKey: cfg.S3.SecretAccessKey,
			InsecureSkipVerify: !cfg.S3.VerifyCerts,
		})
		if err != nil {
			return err
		}
		s3s, err = s3store.New(client, s3store.Options{Bucket: cfg.S3.Bucket, PartSize: cfg.UploadPartSize,
			BuffersPerUpload: cfg.UploadBuffers, MaxBuffersPerUpload: cfg.UploadMaxBuffers, Pool: pool, Logger: log})
		if err != nil {
			return err
		}
		store = s3s
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		if err := s3s.Check(cctx); err != nil {
			// Serve anyway: S3 may be briefly unreachable, and a restart
			// loop would not help. Transfers fail until this is fixed.
			log.Error("cannot reach the bucket: check AWS_S3_BUCKET_NAME, the endpoint and the credentials", "err", err)
		}
		cancel()
	default:
		fs, err := filestore.New(cfg.StorageDir)
		if err != nil {
			return fmt.Errorf("FTP_STORAGE_DIR: %w", err)
		}
		store = fs
	}
	metrics.Gauges = func() map[string]float64 {
		held, alloc, peak := pool.Stats()
		g := map[string]float64{
			"ftps3_upload_buffer_bytes_held":      float64(held),
			"ftps3_upload_buffer_bytes_allocated": float64(alloc),
			"ftps3_upload_buffer_bytes_limit":     float64(pool.Limit()),
			"ftps3_upload_buffer_bytes_peak":      float64(peak),
		}
		if s3s != nil {
			g["ftps3_multipart_aborts_pending"] = float64(s3s.PendingAborts())
		}
		return g
	}

	users, err := auth.NewUsers(cfg.Users)
	if err != nil {
		return fmt.Errorf("users: %w", err)
	}
	srv, err := ftp.New(ftp.Options{
		Store: store, DirSuffix: cfg.S3.DirSuffix, Users: users,
		Throttle: auth.NewThrottle(cfg.LoginMaxFailures, cfg.LoginLockout, cfg.LoginLockout),
		TLS:      tlsCfg, TLSMode: cfg.TLSMode,
		DataPortsFirst: cfg.DataPortsFirst, DataPortsCount: cfg.DataPortsCount, DataCIDRs: cfg.DataCIDRs,
		IdleTimeout: cfg.IdleTimeout, RequireCloseNotify: cfg.RequireCloseNotify,
		Metrics: metrics, Logger: log,
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.CommandPort))
	if err != nil {
		return fmt.Errorf("FTP_COMMAND_PORT %d: %w", cfg.CommandPort, err)
	}
	hs, err := health.Start(":"+strconv.Itoa(cfg.HealthcheckPort), cfg.HTTPAddr, metrics, cfg.HTTPPprof, log)
	if err != nil {
		ln.Close()
		return fmt.Errorf("HEALTHCHECK_PORT/FTP_HTTP_ADDR: %w", err)
	}
	defer hs.Close()

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	where := cfg.StorageDir
	if cfg.Storage == "s3" {
		where = "s3://" + cfg.S3.Bucket
	}
	log.Info("ftps3 serving", "command_port", cfg.CommandPort, "tls", cfg.TLSMode,
		"data_ports", fmt.Sprintf("%d-%d", cfg.DataPortsFirst, cfg.DataPortsFirst+cfg.DataPortsCount-1),
		"storage", where, "users", users.Len(), "healthcheck_port", cfg.HealthcheckPort, "http", cfg.HTTPAddr)
	if cfg.DevUser != nil {
		fmt.Fprintf(out, "\nDevelopment user: %s / %s (serving %s)\nTry:\n  curl -k --ssl-reqd ftps://%s:%s@127.0.0.1:%d/ -T README.md\n  curl -k ftps://%s:%s@127.0.0.1:%d/\n  lftp -e 'set ssl:verify-certificate no; ls; bye' -u %s,%s ftps://127.0.0.1:%d\n\n",
			cfg.DevUser.Login, cfg.DevUser.Password, where,
			cfg.DevUser.Login, cfg.DevUser.Password, cfg.CommandPort,
			cfg.DevUser.Login, cfg.DevUser.Password, cfg.CommandPort,
			cfg.DevUser.Login, cfg.DevUser.Password, cfg.CommandPort)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	select {
	case s := <-sig:
		log.Info("signal received: draining", "signal", s.String(), "grace", cfg.ShutdownGrace.String())
	case err := <-served:
		if err != nil {
			return fmt.Errorf("serving: %w", err)
		}
	case <-ctx.Done():
	}
	hs.Drain()
	gctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(gctx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	if s3s != nil {
		actx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s3s.Close(actx); err != nil {
			log.Error("incomplete multipart uploads left for the lifecycle rule", "err", err)
		}
	}
	log.Info("stopped")
	return nil
}

func newLogger(cfg *config.Config, out io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(out, opts))
	}
	return slog.New(slog.NewTextHandler(out, opts))
}

// probe asks the local gateway's /healthz (FTP_HTTP_ADDR).
func probe() int {
	addr := os.Getenv("FTP_HTTP_ADDR")
	if addr == "" {
		addr = ":8080"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FTP_HTTP_ADDR:", err)
		return 1
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + net.JoinHostPort(host, port) + "/healthz")
	if err != nil {
		fmt.Fprintln(os.Stderr, "unhealthy:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "unhealthy:", resp.Status)
		return 1
	}
	return 0
}

package ftp_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ftps3/ftps3/app/auth"
	gw "github.com/ftps3/ftps3/app/ftp"
	"github.com/ftps3/ftps3/app/objfs"
	"github.com/ftps3/ftps3/app/storage"
	"github.com/ftps3/ftps3/app/storage/bufpool"
	"github.com/ftps3/ftps3/app/storage/digest"
	"github.com/ftps3/ftps3/app/storage/filestore"
	"github.com/ftps3/ftps3/app/storage/s3store"
	"github.com/ftps3/ftps3/app/tlscert"
	"github.com/ftps3/ftps3/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

const (
	testUser = "alice"
	testPass = "wonder land"
)

// gateway is a running ftps3 server for one test.
type gateway struct {
	t       testing.TB
	addr    string
	port    int
	srv     *gw.Server
	store   storage.Store
	s3      *s3store.Store
	minio   *testenv.MinIO
	bucket  string
	metrics *gw.Metrics
	logs    *testenv.SyncBuffer
}

type gatewayOptions struct {
	backend   string // "s3" (default) or "file"
	minio     *testenv.MinIO
	tlsMode   gw.TLSMode
	dataPorts int
	passive   []gw.PassiveRule
	users     []auth.User
	dirSuffix string
	partSize  int64
	reuse     gw.SessionReuse
	tune      func(*gw.Options) // changes the options before the server starts
	wrapStore func(storage.Store) storage.Store
	checksums []digest.Algorithm // recorded with every upload (none by default)
	// resumeWindow keeps cut uploads for resuming that long
	// (s3store.Options.ResumeWindow; 0: they are aborted).
	resumeWindow time.Duration
	bucket       string // an existing bucket of minio (a gateway restarted on it)
}

var certOnce sync.Once
var testCert tls.Certificate

func serverTLS(t testing.TB) *tls.Config {
	certOnce.Do(func() {
		var err error
		if testCert, err = tlscert.SelfSigned("ftps3-test"); err != nil {
			panic(err)
		}
	})
	return &tls.Config{Certificates: []tls.Certificate{testCert}, MinVersion: tls.VersionTLS12}
}

// freePortRange finds n consecutive free ports below Linux's ephemeral range.
func freePortRange(t testing.TB, n int) int {
	for try := 0; try < 200; try++ {
		base := 10000 + mrand.IntN(20000)
		var ls []net.Listener
		ok := true
		for p := base; p < base+n; p++ {
			l, err := net.Listen("tcp", fmt.Sprintf(":%d", p))
			if err != nil {
				ok = false
				break
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

func startGateway(t testing.TB, o gatewayOptions) *gateway {
	t.Helper()
	g := &gateway{t: t, metrics: &gw.Metrics{}, logs: &testenv.SyncBuffer{}}
	log := slog.New(slog.NewTextHandler(g.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", g.logs.String())
		}
	})
	switch o.backend {
	case "file":
		fs, err := filestore.New(t.TempDir(), o.checksums...)
		if err != nil {
			t.Fatal(err)
		}
		g.store = fs
	default:
		g.minio = o.minio
		if g.minio == nil {
			g.minio = testenv.SharedMinIO(t)
		}
		g.bucket = o.bucket
		if g.bucket == "" {
			g.bucket = g.minio.NewBucket(t)
		}
		if o.partSize == 0 {
			o.partSize = s3store.MinPartSize
		}
		s, err := s3store.New(g.minio.Client(t), s3store.Options{Bucket: g.bucket, Pool: bufpool.New(256 << 20),
			PartSize: o.partSize, Logger: log, Checksums: o.checksums, ResumeWindow: o.resumeWindow,
			AbortRetry: s3store.RetryPolicy{First: 200 * time.Millisecond, Max: time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		g.s3, g.store = s, s
	}
	if o.wrapStore != nil {
		g.store = o.wrapStore(g.store)
	}
	if o.users == nil {
		o.users = []auth.User{{Login: testUser, Password: auth.Plain(testPass)}}
	}
	users, err := auth.NewUsers(o.users)
	if err != nil {
		t.Fatal(err)
	}
	if o.dataPorts == 0 {
		o.dataPorts = 10
	}
	first := freePortRange(t, o.dataPorts)
	opts := gw.Options{
		FS: objfs.New(g.store, o.dirSuffix), Users: users, TLS: serverTLS(t), TLSMode: o.tlsMode, TLSSessionReuse: o.reuse,
		DataPortsFirst: first, DataPortsCount: o.dataPorts, Passive: o.passive,
		IdleTimeout: time.Minute, RequireCloseNotify: true, LoginFailureDelay: 10 * time.Millisecond,
		Throttle: auth.NewThrottle(50, time.Minute, time.Minute),
		Metrics:  g.metrics, Logger: log,
	}
	if o.tune != nil {
		o.tune(&opts)
	}
	srv, err := gw.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.srv, g.addr, g.port = srv, ln.Addr().String(), ln.Addr().(*net.TCPAddr).Port
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if g.s3 != nil {
			g.s3.Close(ctx)
		}
	})
	// Wait until the command port answers.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", g.addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway not listening: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return g
}

// clientTLS is what an FTPS client uses: no verification of the test
// certificate, a session cache, a fixed server name.
func clientTLS(maxVersion uint16) *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, ServerName: "ftps3-test", //nolint:gosec // test certificate
		ClientSessionCache: tls.NewLRUClientSessionCache(16), MaxVersion: maxVersion}
}

// dial logs a Go FTP client in with implicit TLS.
func (g *gateway) dial(t *testing.T, opts ...ftp.DialOption) *ftp.ServerConn {
	t.Helper()
	opts = append([]ftp.DialOption{ftp.DialWithTLS(clientTLS(0)), ftp.DialWithTimeout(10 * time.Second)}, opts...)
	c, err := ftp.Dial(g.addr, opts...)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if err := c.Login(testUser, testPass); err != nil {
		t.Fatalf("login: %v", err)
	}
	t.Cleanup(func() { c.Quit() })
	return c
}

// object reads an object straight from the store, bypassing the gateway.
func (g *gateway) object(key string) ([]byte, error) {
	r, err := g.store.Open(context.Background(), key, 0)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// noIncompleteUploads waits for background aborts, then checks S3.
func (g *gateway) noIncompleteUploads(t *testing.T) {
	t.Helper()
	if g.minio == nil {
		return
	}
	deadline := time.Now().Add(20 * time.Second)
	for g.s3.PendingAborts() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	var ups int
	for time.Now().Before(deadline) {
		if ups = len(g.minio.IncompleteUploads(t, g.bucket)); ups == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("%d incomplete multipart uploads left in the bucket", ups)
}

func randomData(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var backends = []string{"s3", "file"}

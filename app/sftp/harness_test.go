package sftp_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/ftps3/ftps3/app/auth"
	"github.com/ftps3/ftps3/app/objfs"
	gw "github.com/ftps3/ftps3/app/sftp"
	"github.com/ftps3/ftps3/app/storage"
	"github.com/ftps3/ftps3/app/storage/bufpool"
	"github.com/ftps3/ftps3/app/storage/digest"
	"github.com/ftps3/ftps3/app/storage/filestore"
	"github.com/ftps3/ftps3/app/storage/s3store"
	"github.com/ftps3/ftps3/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

const (
	alice     = "alice" // password and key
	alicePass = "wonder land"
	reader    = "reader" // read-only, password
	readerPw  = "look only"
	keyOnly   = "bob" // key only, home "partners/bob/"
)

// clientKey is a user's key pair: the signer for Go clients and the private
// key file for OpenSSH and paramiko.
type clientKey struct {
	signer ssh.Signer
	file   string
}

func newClientKey(t *testing.T) clientKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	signer, err := ssh.NewSignerFromKey(priv)
	must(t, err)
	block, err := ssh.MarshalPrivateKey(priv, "test")
	must(t, err)
	file := filepath.Join(t.TempDir(), "id_ed25519")
	must(t, os.WriteFile(file, pem.EncodeToMemory(block), 0o600))
	return clientKey{signer: signer, file: file}
}

// gateway is a running SFTP front door for one test.
type gateway struct {
	addr      string
	port      int
	srv       *gw.Server
	store     storage.Store
	s3        *s3store.Store
	minio     *testenv.MinIO
	bucket    string
	metrics   *gw.Metrics
	logs      *testenv.SyncBuffer
	hostKey   ssh.Signer
	knownHost string // a known_hosts file naming the server's key
	aliceKey  clientKey
	bobKey    clientKey
	stopped   bool
}

type gatewayOptions struct {
	backend   string // "s3" (default) or "file"
	minio     *testenv.MinIO
	window    int64
	throttle  *auth.Throttle
	checksums []digest.Algorithm                // recorded with every upload (CHECKSUMS)
	wrapStore func(storage.Store) storage.Store // what the server sees instead of the store (faults)
	// resumeWindow keeps cut uploads for resuming that long (s3store's
	// ResumeWindow; 0: cut uploads are aborted).
	resumeWindow time.Duration
	// bucket: serve this existing bucket of minio (a restarted gateway)
	// instead of a new one.
	bucket string
}

func startGateway(t *testing.T, o gatewayOptions) *gateway {
	t.Helper()
	g := &gateway{metrics: &gw.Metrics{}, logs: &testenv.SyncBuffer{}}
	log := slog.New(slog.NewTextHandler(g.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", g.logs.String())
		}
	})
	switch o.backend {
	case "file":
		fs, err := filestore.New(t.TempDir(), o.checksums...)
		must(t, err)
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
		s, err := s3store.New(g.minio.Client(t), s3store.Options{Bucket: g.bucket, Pool: bufpool.New(256 << 20),
			PartSize: s3store.MinPartSize, Checksums: o.checksums, ResumeWindow: o.resumeWindow, Logger: log,
			AbortRetry: s3store.RetryPolicy{First: 200 * time.Millisecond, Max: time.Second}})
		must(t, err)
		g.s3, g.store = s, s
	}
	g.aliceKey, g.bobKey = newClientKey(t), newClientKey(t)
	users, err := auth.NewUsers([]auth.User{
		{Login: alice, Password: auth.Plain(alicePass), PublicKeys: []ssh.PublicKey{g.aliceKey.signer.PublicKey()}},
		{Login: reader, Password: auth.Plain(readerPw), ReadOnly: true},
		{Login: keyOnly, Password: auth.NoPassword{}, Home: "partners/bob/", PublicKeys: []ssh.PublicKey{g.bobKey.signer.PublicKey()}},
	})
	must(t, err)
	hk, _, err := gw.LoadOrGenerateHostKey(filepath.Join(t.TempDir(), "host_key"))
	must(t, err)
	g.hostKey = hk
	if o.throttle == nil {
		o.throttle = auth.NewThrottle(50, time.Minute, time.Minute)
	}
	served := g.store
	if o.wrapStore != nil {
		served = o.wrapStore(g.store)
	}
	srv, err := gw.New(gw.Options{
		FS: objfs.New(served, "/"), Users: users, Throttle: o.throttle, HostKeys: []ssh.Signer{hk},
		Checksums: o.checksums, WriteWindow: o.window, IdleTimeout: time.Minute, LoginFailureDelay: time.Millisecond,
		Metrics: g.metrics, Logger: log,
	})
	must(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	g.srv, g.addr, g.port = srv, ln.Addr().String(), ln.Addr().(*net.TCPAddr).Port
	go srv.Serve(ln)
	g.knownHost = filepath.Join(t.TempDir(), "known_hosts")
	line := knownHostsLine(g.port, hk.PublicKey())
	must(t, os.WriteFile(g.knownHost, []byte(line), 0o600))
	t.Cleanup(func() { g.stop(t) })
	return g
}

func knownHostsLine(port int, k ssh.PublicKey) string {
	return "[127.0.0.1]:" + itoa(port) + " " + string(ssh.MarshalAuthorizedKey(k))
}

// stop drains the server (every connection's uploads committed or aborted)
// and waits for the store's background aborts.
func (g *gateway) stop(t *testing.T) {
	if g.stopped {
		return
	}
	g.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g.srv.Shutdown(ctx)
	if g.s3 != nil {
		g.s3.Close(ctx)
	}
}

// view is a view of the whole store, as a user who may write everywhere
// sees it.
func (g *gateway) view() *objfs.View {
	return objfs.New(g.store, "/").View("", false, nil)
}

// dial logs a Go client in.
func (g *gateway) dial(t *testing.T, user string, auths ...ssh.AuthMethod) *sftp.Client {
	t.Helper()
	c, err := g.tryDial(user, auths...)
	if err != nil {
		t.Fatalf("login as %s: %v", user, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (g *gateway) tryDial(user string, auths ...ssh.AuthMethod) (*sftp.Client, error) {
	conn, err := g.sshDial(user, auths...)
	if err != nil {
		return nil, err
	}
	c, err := sftp.NewClient(conn, sftp.UseConcurrentWrites(true), sftp.MaxConcurrentRequestsPerFile(64))
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

func (g *gateway) sshDial(user string, auths ...ssh.AuthMethod) (*ssh.Client, error) {
	cfg := &ssh.ClientConfig{User: user, Auth: auths, HostKeyCallback: ssh.FixedHostKey(g.hostKey.PublicKey()),
		Timeout: 10 * time.Second}
	return ssh.Dial("tcp", g.addr, cfg)
}

func (g *gateway) alice(t *testing.T) *sftp.Client {
	return g.dial(t, alice, ssh.PublicKeys(g.aliceKey.signer))
}

// object reads an object straight from the store.
func (g *gateway) object(key string) ([]byte, error) {
	r, err := g.store.Open(context.Background(), key, 0)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func (g *gateway) mustHave(t *testing.T, key string, want []byte) {
	t.Helper()
	got, err := g.object(key)
	if err != nil {
		t.Fatalf("object %s: %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("object %s: %d bytes, want %d (or content differs)", key, len(got), len(want))
	}
}

func (g *gateway) mustNotExist(t *testing.T, key string) {
	t.Helper()
	if _, err := g.store.Stat(context.Background(), key); err == nil {
		t.Fatalf("object %s exists", key)
	}
}

// noIncompleteUploads checks S3 after the store's background aborts.
func (g *gateway) noIncompleteUploads(t *testing.T) {
	t.Helper()
	if g.minio == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := g.s3.Close(ctx); err != nil {
		t.Errorf("aborts still pending: %v", err)
	}
	if ups := g.minio.IncompleteUploads(t, g.bucket); len(ups) != 0 {
		t.Errorf("%d incomplete multipart uploads left in the bucket", len(ups))
	}
}

func randomData(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func newThrottle(n int) *auth.Throttle { return auth.NewThrottle(n, time.Hour, time.Hour) }

// Package testenv starts the real services tests run against: a MinIO server
// on 127.0.0.1 with its own temporary data directory.
//
// The MinIO binary is found through FTPS3_MINIO_BIN, then the project cache
// (~/.cache/ftps3/bin/minio, where scripts/deps.sh installs it), then PATH.
// Without it, tests that need it are skipped, unless FTPS3_REQUIRE_SERVICES
// is set (scripts/test.sh sets it), in which case they fail.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ftps3/ftps3/app/storage/s3store"
)

// MinIO is a running (or stopped) MinIO server.
type MinIO struct {
	Endpoint  string // http://127.0.0.1:PORT
	AccessKey string
	SecretKey string

	bin, dir, addr string
	mu             sync.Mutex
	cmd            *exec.Cmd
	exited         chan struct{}
}

// MinIOBinary returns the path of the MinIO binary, or "".
func MinIOBinary() string {
	if p := os.Getenv("FTPS3_MINIO_BIN"); p != "" {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "ftps3", "bin", "minio")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p, _ := exec.LookPath("minio")
	return p
}

// Require skips (or, under scripts/test.sh, fails) the test when a tool is missing.
func Require(t testing.TB, what, path string) {
	t.Helper()
	if path != "" {
		return
	}
	msg := fmt.Sprintf("%s not found: run scripts/deps.sh (or scripts/test.sh) to install it", what)
	if os.Getenv("FTPS3_REQUIRE_SERVICES") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// StartMinIO starts a new MinIO server in a temporary directory; it stops
// when the test ends.
func StartMinIO(t testing.TB) *MinIO {
	t.Helper()
	bin := MinIOBinary()
	Require(t, "MinIO", bin)
	dir, err := os.MkdirTemp("", "ftps3-minio-")
	if err != nil {
		t.Fatal(err)
	}
	m := &MinIO{bin: bin, dir: dir, addr: FreeAddr(t), AccessKey: "ftps3test", SecretKey: "ftps3test-secret"}
	m.Endpoint = "http://" + m.addr
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Stop()
		os.RemoveAll(dir)
	})
	return m
}

var (
	sharedOnce sync.Once
	shared     *MinIO
	sharedErr  error
)

// SharedMinIO returns one MinIO server for the whole test binary; Main stops it.
func SharedMinIO(t testing.TB) *MinIO {
	t.Helper()
	bin := MinIOBinary()
	Require(t, "MinIO", bin)
	sharedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ftps3-minio-")
		if err != nil {
			sharedErr = err
			return
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			sharedErr = err
			return
		}
		addr := l.Addr().String()
		l.Close()
		shared = &MinIO{bin: bin, dir: dir, addr: addr, Endpoint: "http://" + addr, AccessKey: "ftps3test", SecretKey: "ftps3test-secret"}
		sharedErr = shared.Start()
	})
	if sharedErr != nil {
		t.Fatalf("start MinIO: %v", sharedErr)
	}
	return shared
}

// Main runs the tests and stops the shared MinIO server, if one was started.
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		shared.Stop()
		os.RemoveAll(shared.dir)
	}
	return code
}

// Start (re)starts the server on its address and data directory and waits
// until it answers.
func (m *MinIO) Start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cmd := exec.Command(m.bin, "server", "--quiet", "--address", m.addr, "--console-address", "127.0.0.1:0", m.dir)
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+m.AccessKey, "MINIO_ROOT_PASSWORD="+m.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "CI=true")
	logf, err := os.Create(filepath.Join(os.TempDir(), "ftps3-minio-"+filepath.Base(m.dir)+".log"))
	if err == nil {
		cmd.Stdout, cmd.Stderr = logf, logf
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", m.bin, err)
	}
	m.cmd = cmd
	m.exited = make(chan struct{})
	go func(done chan struct{}) {
		cmd.Wait()
		if logf != nil {
			logf.Close()
		}
		close(done)
	}(m.exited)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(m.Endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-m.exited:
			return fmt.Errorf("MinIO exited at start (see %s)", logf.Name())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("MinIO did not become ready on %s", m.addr)
}

// Stop kills the server (as a crash would) and waits for it to exit.
func (m *MinIO) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	m.cmd.Process.Kill()
	<-m.exited
	m.cmd = nil
}

// ClientOptions are the s3store options to reach this server.
func (m *MinIO) ClientOptions() s3store.ClientOptions {
	return s3store.ClientOptions{Region: "us-east-1", Endpoint: m.Endpoint, PathStyle: true,
		AccessKeyID: m.AccessKey, SecretAccessKey: m.SecretKey}
}

// Client returns an S3 client for this server.
func (m *MinIO) Client(t testing.TB) *s3.Client {
	t.Helper()
	c, err := s3store.NewClient(context.Background(), m.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// NewBucket creates a bucket with a fresh name.
func (m *MinIO) NewBucket(t testing.TB) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := "test-" + hex.EncodeToString(b[:])
	c := m.Client(t)
	// MinIO can answer ready before its subsystems are: it then says
	// XMinioServerNotInitialized (503) for a while. Wait that out.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		_, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)})
		if err == nil {
			return name
		}
		if !strings.Contains(err.Error(), "XMinioServerNotInitialized") || time.Now().After(deadline) {
			t.Fatalf("create bucket: %v", err)
		}
	}
}

// IncompleteUploads lists the multipart uploads in progress in bucket.
func (m *MinIO) IncompleteUploads(t testing.TB, bucket string) []types.MultipartUpload {
	t.Helper()
	out, err := m.Client(t).ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("list multipart uploads: %v", err)
	}
	return out.Uploads
}

// FreeAddr returns a 127.0.0.1 address with a port free right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

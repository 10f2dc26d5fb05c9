package ftp_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftps3/ftps3/app/storage"
	"github.com/ftps3/ftps3/internal/testenv"
)

// startStor begins an upload by hand and returns its TLS data connection.
func (c *rawClient) startStor(name string) *tls.Conn {
	c.t.Helper()
	port := c.epsvPort()
	c.send("STOR " + name)
	raw, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		c.t.Fatal(err)
	}
	dc := tls.Client(raw, c.tls)
	if code, msg := c.reply(); code != 150 {
		c.t.Fatalf("STOR: %s", msg)
	}
	if err := dc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	return dc
}

func (g *gateway) mustNotExist(t *testing.T, key string) {
	t.Helper()
	if _, err := g.store.Stat(context.Background(), key); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("object %q exists after a failed upload (err %v)", key, err)
	}
}

// A client that dies mid-upload closes TCP without a TLS close_notify: the
// upload is discarded, an existing object of that name is untouched, and no
// multipart upload is left, over TLS 1.2 and 1.3.
func TestCutUploadIsDiscarded(t *testing.T) {
	for _, backend := range backends {
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			t.Run(fmt.Sprintf("%s-%s", backend, tls.VersionName(v)), func(t *testing.T) {
				g := startGateway(t, gatewayOptions{backend: backend})
				old := []byte("the previous version")
				must(t, g.dial(t).Stor("kept.bin", bytes.NewReader(old)))
				for _, name := range []string{"kept.bin", "new.bin"} {
					c := dialRawTLS(t, g.addr, true, v)
					c.login()
					dc := c.startStor(name)
					if _, err := dc.Write(randomData(11 << 20)); err != nil {
						t.Fatal(err)
					}
					dc.NetConn().Close() // TCP FIN, no close_notify
					code, msg := c.reply()
					if code < 400 {
						t.Fatalf("cut upload answered %q", msg)
					}
					c.expect(200, "NOOP") // the session goes on
				}
				if got, err := g.object("kept.bin"); err != nil || !bytes.Equal(got, old) {
					t.Errorf("previous object changed: %q, %v", got, err)
				}
				g.mustNotExist(t, "new.bin")
				g.noIncompleteUploads(t)
			})
		}
	}
}

// The same upload closed properly is stored, byte for byte: the check above
// does not reject good uploads.
func TestCompleteRawUploadIsStored(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		g := startGateway(t, gatewayOptions{})
		c := dialRawTLS(t, g.addr, true, v)
		c.login()
		data := randomData(11<<20 + 1)
		dc := c.startStor("ok.bin")
		dc.Write(data)
		dc.Close() // close_notify, then FIN
		if code, msg := c.reply(); code != 226 {
			t.Fatalf("%s: %s", tls.VersionName(v), msg)
		}
		if got, _ := g.object("ok.bin"); !bytes.Equal(got, data) {
			t.Fatalf("%s: stored %d bytes of %d", tls.VersionName(v), len(got), len(data))
		}
	}
}

func TestAborDiscardsUpload(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	c := dialRaw(t, g.addr, true)
	c.login()
	dc := c.startStor("aborted.bin")
	dc.Write(randomData(7 << 20))
	c.send("ABOR")
	codes := []int{}
	for len(codes) < 2 {
		code, _ := c.reply()
		codes = append(codes, code)
	}
	if codes[0] != 426 || codes[1] != 226 {
		t.Errorf("ABOR replies = %v, want [426 226]", codes)
	}
	dc.Close()
	c.expect(200, "NOOP")
	g.mustNotExist(t, "aborted.bin")
	g.noIncompleteUploads(t)
}

func TestControlConnectionDroppedMidUpload(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	c := dialRaw(t, g.addr, true)
	c.login()
	dc := c.startStor("orphan.bin")
	dc.Write(randomData(7 << 20))
	c.conn.Close()
	// The data connection is closed by the server; keep writing until it is.
	dc.SetDeadline(time.Now().Add(20 * time.Second))
	var err error
	for err == nil {
		_, err = dc.Write(make([]byte, 64<<10))
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("server kept the data connection after the control connection closed")
	}
	g.mustNotExist(t, "orphan.bin")
	g.noIncompleteUploads(t)
}

// curl killed with SIGKILL in the middle of a throttled upload.
func TestKilledCurlLeavesNothing(t *testing.T) {
	needTool(t, "curl")
	g := startGateway(t, gatewayOptions{})
	src := writeTemp(t, "big.bin", randomData(20<<20))
	cmd := exec.Command("curl", "-sS", "-k", "--ssl-reqd", "--user", testUser+":"+testPass, "--limit-rate", "4M",
		"-T", src, fmt.Sprintf("ftps://127.0.0.1:%d/killed.bin", g.port))
	must(t, cmd.Start())
	deadline := time.Now().Add(20 * time.Second)
	for g.metrics.BytesUploaded.Load() < 7<<20 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	deadline = time.Now().Add(10 * time.Second)
	for g.metrics.TransfersActive.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if g.metrics.UploadsFailed.Load() != 1 || g.metrics.UploadsOK.Load() != 0 {
		t.Errorf("uploads ok=%d failed=%d", g.metrics.UploadsOK.Load(), g.metrics.UploadsFailed.Load())
	}
	g.mustNotExist(t, "killed.bin")
	g.noIncompleteUploads(t)
}

// S3 stops in the middle of an upload: the client gets an FTP error reply,
// nothing partial is stored, the abort is retried until S3 is back, and the
// next upload works.
func TestS3OutageMidUpload(t *testing.T) {
	m := testenv.StartMinIO(t)
	g := startGateway(t, gatewayOptions{minio: m})
	c := dialRaw(t, g.addr, true)
	c.login()
	dc := c.startStor("outage.bin")
	if _, err := dc.Write(randomData(6 << 20)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(m.IncompleteUploads(t, g.bucket)) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	m.Stop()
	dc.SetWriteDeadline(time.Now().Add(60 * time.Second))
	for {
		if _, err := dc.Write(make([]byte, 256<<10)); err != nil {
			break
		}
	}
	code, msg := c.reply()
	if code < 400 {
		t.Fatalf("upload during the outage answered %q", msg)
	}
	t.Logf("reply during the outage: %s", msg)
	c.expect(200, "NOOP")
	if g.s3.PendingAborts() != 1 {
		t.Errorf("pending aborts = %d, want 1", g.s3.PendingAborts())
	}
	must(t, m.Start())
	g.noIncompleteUploads(t)
	g.mustNotExist(t, "outage.bin")
	data := randomData(6 << 20)
	must(t, g.dial(t).Stor("after.bin", bytes.NewReader(data)))
	if got, _ := g.object("after.bin"); !bytes.Equal(got, data) {
		t.Error("upload after the outage differs")
	}
}

// 100 MiB of random bytes and a name with a quote, a double space and an
// emoji, up and down through the Go client.
func TestLargeFileAndUnicodeNameRoundTrip(t *testing.T) {
	g := startGateway(t, gatewayOptions{partSize: 8 << 20})
	c := g.dial(t)
	data := randomData(100 << 20)
	name := `it's  "big" 🚀.bin`
	must(t, c.Stor(name, bytes.NewReader(data)))
	r, err := c.Retr(name)
	must(t, err)
	got, err := io.ReadAll(r)
	r.Close()
	must(t, err)
	if !bytes.Equal(got, data) {
		t.Fatalf("round trip differs: %d bytes back", len(got))
	}
	names, err := c.NameList("/")
	must(t, err)
	if len(names) != 1 || names[0] != name {
		t.Fatalf("NLST = %q", names)
	}
	if !strings.Contains(g.logs.String(), "upload stored") {
		t.Error("no transfer log line")
	}
	g.noIncompleteUploads(t)
}

// changedInTransit is a store that refuses every upload at commit as S3
// does when the bytes it got differ from their checksum.
type changedInTransit struct{ storage.Store }

func (s changedInTransit) Create(ctx context.Context, key string) (storage.Upload, error) {
	u, err := s.Store.Create(ctx, key)
	if err != nil {
		return nil, err
	}
	return badDigestUpload{u}, nil
}

type badDigestUpload struct{ storage.Upload }

func (u badDigestUpload) Commit(ctx context.Context) error {
	u.Upload.Abort(ctx)
	return fmt.Errorf("operation error S3: PutObject, api error BadDigest: %w", storage.ErrChecksumMismatch)
}

// An upload whose bytes S3 found changed on the way: 451, send it again,
// nothing stored.
func TestUploadChangedInTransitIs451(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file",
		wrapStore: func(s storage.Store) storage.Store { return changedInTransit{s} }})
	c := dialRaw(t, g.addr, true)
	c.login()
	dc := c.startStor("f.bin")
	dc.Write(randomData(1000))
	dc.Close()
	code, msg := c.reply()
	if code != 451 || !strings.Contains(msg, "the storage service found the bytes changed in transit: nothing was stored, send the file again") {
		t.Errorf("STOR refused by the store: %q, want 451 saying why", msg)
	}
	if strings.Contains(msg, "BadDigest") || strings.Contains(msg, "PutObject") {
		t.Errorf("the reply %q shows the SDK's error", msg)
	}
	c.expect(200, "NOOP")
	g.mustNotExist(t, "f.bin")
}

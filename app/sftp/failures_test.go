package sftp_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/ftps3/ftps3/app/storage"
	"github.com/ftps3/ftps3/internal/testenv"
)

// A client that dies mid-upload (its connection drops without CLOSE)
// leaves no object, no incomplete multipart upload, and the previous
// object of that name untouched.
func TestClientKilledMidUpload(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	old := randomData(1000)
	put(t, g.alice(t), "keep.bin", old)

	conn, err := g.sshDial(alice, ssh.PublicKeys(g.aliceKey.signer))
	must(t, err)
	c, err := sftp.NewClient(conn)
	must(t, err)
	for _, name := range []string{"keep.bin", "new.bin"} {
		f, err := c.Create(name)
		must(t, err)
		// Write returns once the server acknowledged every request: 12 MiB
		// are in the multipart upload (two parts sent), none committed.
		_, err = f.Write(randomData(12 << 20))
		must(t, err)
	}
	conn.Close() // as a killed client: no CLOSE
	g.stop(t)    // returns once every connection ended: the uploads were aborted
	g.mustHave(t, "keep.bin", old)
	g.mustNotExist(t, "new.bin")
	g.noIncompleteUploads(t)
	if n := g.metrics.UploadsFailed.Load(); n != 2 {
		t.Errorf("failed uploads counted: %d, want 2", n)
	}
}

// S3 stops answering mid-upload: the client is told, nothing is stored,
// and once S3 is back the abort goes through and uploads work again.
func TestS3StoppedMidUpload(t *testing.T) {
	m := testenv.StartMinIO(t)
	g := startGateway(t, gatewayOptions{minio: m})
	c := g.alice(t)
	f, err := c.Create("outage.bin")
	must(t, err)
	_, err = f.Write(randomData(6 << 20))
	must(t, err)
	m.Stop()
	var werr error
	for i := 0; i < 64 && werr == nil; i++ { // at most 128 MiB: the part uploads fail long before
		_, werr = f.Write(make([]byte, 2<<20))
	}
	cerr := f.Close()
	if werr == nil && cerr == nil {
		t.Fatal("upload during the outage succeeded")
	}
	t.Logf("write error: %v; close error: %v", werr, cerr)
	if !strings.Contains(errString(werr)+errString(cerr), "storage service failed") {
		t.Errorf("the client was not told that storage failed: %v / %v", werr, cerr)
	}
	// Other requests during the outage: a plain status, no store internals.
	_, serr := c.Stat("outage.bin")
	_, rerr := c.ReadDir("/")
	for _, e := range []error{serr, rerr} {
		if e == nil {
			t.Fatal("a request succeeded with S3 stopped")
		}
		t.Logf("during the outage: %v", e)
		if msg := e.Error(); strings.Contains(msg, "operation error") || strings.Contains(msg, "RequestID") ||
			strings.Contains(msg, "127.0.0.1") || !strings.Contains(msg, "storage service") {
			t.Errorf("status during the outage: %q", msg)
		}
	}
	must(t, m.Start())
	g.noIncompleteUploads(t)
	g.mustNotExist(t, "outage.bin")
	data := randomData(6 << 20)
	put(t, c, "after.bin", data)
	g.mustHave(t, "after.bin", data)
}

// S3 refuses an upload whose bytes changed after the gateway hashed them
// (a checksum mismatch): the client's CLOSE fails with a plain message,
// never S3's text, nothing is stored and the old file is untouched.
func TestChecksumMismatchAtClose(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file", wrapStore: func(s storage.Store) storage.Store {
		return mismatchingStore{s}
	}})
	old := randomData(100)
	put(t, g.alice(t), "kept.bin", old) // the first upload under a name goes through
	c := g.alice(t)
	f, err := c.Create("kept.bin")
	must(t, err)
	_, err = f.Write(randomData(1 << 20))
	must(t, err)
	cerr := f.Close()
	if cerr == nil {
		t.Fatal("an upload S3 refused was reported stored")
	}
	if msg := cerr.Error(); !strings.Contains(msg, "checksum mismatch") || !strings.Contains(msg, "nothing was stored") ||
		strings.Contains(msg, "BadDigest") {
		t.Errorf("the client was told %q", msg)
	}
	g.mustHave(t, "kept.bin", old)
	if !strings.Contains(g.logs.String(), "BadDigest") {
		t.Error("S3's error is not in the log")
	}
}

// mismatchingStore answers as S3 does when the bytes it received differ
// from the checksum sent with them, for every upload to a name that exists.
type mismatchingStore struct{ storage.Store }

func (s mismatchingStore) Create(ctx context.Context, key string) (storage.Upload, error) {
	up, err := s.Store.Create(ctx, key)
	if _, serr := s.Store.Stat(ctx, key); err != nil || serr != nil {
		return up, err
	}
	return mismatchingUpload{up}, nil
}

type mismatchingUpload struct{ storage.Upload }

func (u mismatchingUpload) Commit(ctx context.Context) error {
	u.Upload.Abort(ctx)
	return fmt.Errorf("api error BadDigest: The Content-MD5 you specified did not match what we received (request id 42): %w",
		storage.ErrChecksumMismatch)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Shutdown lets an open upload finish (the client closes it within the
// grace period, and hears that it did), refuses new transfers meanwhile,
// then ends the sessions. Repeated: the CLOSE's reply raced the end of the
// session in some runs.
func TestShutdownDrainsOpenUploads(t *testing.T) {
	for range 10 {
		shutdownDuringUpload(t)
	}
}

func shutdownDuringUpload(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file"})
	c := g.alice(t)
	f, err := c.Create("during.bin")
	must(t, err)
	data := randomData(3 << 20)
	_, err = f.Write(data[:1<<20])
	must(t, err)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		done <- g.srv.Shutdown(ctx)
	}()
	// Shutdown marks the server draining before it waits; a new transfer
	// opened from now on may be refused, the open one goes on.
	_, err = f.Write(data[1<<20:])
	must(t, err)
	must(t, f.Close())
	must(t, <-done)
	g.stopped = true
	got, err := g.object("during.bin")
	must(t, err)
	if !bytes.Equal(got, data) {
		t.Fatal("upload that finished during the drain differs")
	}
	if _, err := g.tryDial(alice, ssh.Password(alicePass)); err == nil {
		t.Error("a drained server accepted a login")
	}
}

// A reload that removes a user closes their sessions: an upload in progress
// is discarded, and other users' sessions go on.
func TestRemovedUserSessionsClosed(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file"})
	c := g.alice(t)
	f, err := c.Create("partial.bin")
	must(t, err)
	_, err = f.Write(randomData(1 << 20))
	must(t, err)
	g.srv.CloseSessionsOf([]string{"somebody-else"})
	if _, err := c.Getwd(); err != nil {
		t.Fatalf("another user's removal closed this session: %v", err)
	}
	g.srv.CloseSessionsOf([]string{alice})
	if err := f.Close(); err == nil {
		t.Error("the upload of a removed user was committed")
	}
	if _, err := c.Getwd(); err == nil {
		t.Error("the removed user's session still answers")
	}
	g.stop(t)
	g.mustNotExist(t, "partial.bin")
}

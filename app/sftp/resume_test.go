package sftp_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/ftps3/ftps3/app/storage"
	"github.com/ftps3/ftps3/app/storage/digest"
	"github.com/ftps3/ftps3/app/storage/s3store"
	"github.com/ftps3/ftps3/internal/testenv"
)

// Resuming a cut upload: the client is killed mid-upload, nothing of the
// upload is visible, STAT of its name tells where it stopped, and an
// upload that continues from there (OpenSSH's reput) completes it.

var sha256Only = []digest.Algorithm{digest.SHA256}

// An OpenSSH upload of 64 MiB, bandwidth-limited, killed at about 60 %,
// over an older version of the file; then reput.
func TestOpenSSHReputAfterKill(t *testing.T) {
	g := startGateway(t, gatewayOptions{resumeWindow: time.Hour, checksums: sha256Only})
	dir := t.TempDir()
	data := writeBig(t, dir, "big.bin")
	old := []byte("yesterday's version")
	put(t, g.alice(t), "big.bin", old)

	first := g.killedPut(t, dir, "big.bin", int64(len(data))*6/10)
	off := g.mustBePending(t, dir, "big.bin", old)
	t.Logf("killed after the gateway received %d of %d bytes; resumable at %d", first, len(data), off)

	rest := g.reput(t, dir, "big.bin")
	g.mustBeComplete(t, "big.bin", data)
	mustReceiveOnlyTheRest(t, len(data), off, first, rest)
}

// The same with the gateway restarted between the kill and the resume: a
// new server on the same bucket finds the cut upload in S3.
func TestOpenSSHReputAfterRestart(t *testing.T) {
	m := testenv.SharedMinIO(t)
	g := startGateway(t, gatewayOptions{minio: m, resumeWindow: time.Hour, checksums: sha256Only})
	dir := t.TempDir()
	data := writeBig(t, dir, "big.bin")
	first := g.killedPut(t, dir, "big.bin", int64(len(data))*6/10)
	g.stop(t)

	g = startGateway(t, gatewayOptions{minio: m, bucket: g.bucket, resumeWindow: time.Hour, checksums: sha256Only})
	off := g.mustBePending(t, dir, "big.bin", nil)
	t.Logf("killed after the gateway received %d of %d bytes; resumable at %d after the restart", first, len(data), off)
	rest := g.reput(t, dir, "big.bin")
	g.mustBeComplete(t, "big.bin", data)
	mustReceiveOnlyTheRest(t, len(data), off, first, rest)
}

// A Go client resumes by hand: it must write from the offset STAT gave;
// a pending upload has one writer at a time; a plain put, a remove and the
// end of the resume window drop it.
func TestResumeGoClient(t *testing.T) {
	g := startGateway(t, gatewayOptions{resumeWindow: time.Hour, checksums: sha256Only})
	c := g.alice(t)
	data := randomData(16<<20 + 123)
	const cutAt = 12 << 20 // two 5 MiB parts in S3, 2 MiB buffered: resumable at 10 MiB

	t.Run("misplaced writes, then from the offset", func(t *testing.T) {
		off := g.cutUpload(t, "a.bin", data[:cutAt])
		f, err := c.OpenFile("a.bin", os.O_WRONLY) // no truncation: resumes
		must(t, err)
		_, err = f.WriteAt(data[:32<<10], 0)
		mustSay(t, err, "the upload can resume at byte "+itoa(int(off))+" only")
		f.Close()
		f, err = c.OpenFile("a.bin", os.O_WRONLY)
		must(t, err)
		_, err = f.WriteAt(make([]byte, 100), off+9<<20) // past the reorder window
		mustSay(t, err, "the upload can resume at byte "+itoa(int(off))+" only")
		f.Close()
		if got := g.pending(t, "a.bin"); got != off {
			t.Fatalf("after misplaced writes the upload is resumable at %d, want %d", got, off)
		}
		// As pkg/sftp's own way to append: FSTAT the handle, write from its size.
		f, err = c.OpenFile("a.bin", os.O_WRONLY|os.O_APPEND)
		must(t, err)
		end, err := f.Seek(0, io.SeekEnd)
		must(t, err)
		if end != off {
			t.Fatalf("FSTAT of the resumed handle: size %d, want %d", end, off)
		}
		_, err = f.Write(data[off:])
		must(t, err)
		must(t, f.Close())
		g.mustBeComplete(t, "a.bin", data)
	})

	t.Run("two clients resume at once", func(t *testing.T) {
		off := g.cutUpload(t, "b.bin", data[:cutAt])
		f, err := c.OpenFile("b.bin", os.O_WRONLY)
		must(t, err)
		_, err = g.alice(t).OpenFile("b.bin", os.O_WRONLY)
		mustSay(t, err, "another session is resuming this upload")
		_, err = f.WriteAt(data[off:], off)
		must(t, err)
		must(t, f.Close())
		g.mustBeComplete(t, "b.bin", data)
	})

	t.Run("cut again while resuming", func(t *testing.T) {
		off := g.cutUpload(t, "f.bin", data[:cutAt])
		again := g.cut(t, "f.bin", func(c *sftp.Client) {
			f, err := c.OpenFile("f.bin", os.O_WRONLY)
			must(t, err)
			_, err = f.WriteAt(data[off:off+6<<20], off)
			must(t, err)
		})
		if again <= off {
			t.Fatalf("cut again: resumable at %d, was %d", again, off)
		}
		f, err := c.OpenFile("f.bin", os.O_WRONLY)
		must(t, err)
		_, err = f.WriteAt(data[again:], again)
		must(t, err)
		must(t, f.Close())
		g.mustBeComplete(t, "f.bin", data)
	})

	t.Run("a put with truncation starts over", func(t *testing.T) {
		g.cutUpload(t, "c.bin", data[:cutAt])
		other := randomData(6 << 20)
		put(t, c, "c.bin", other)
		g.mustHave(t, "c.bin", other)
		waitFor(t, "the pending upload dropped", func() bool { return g.pending(t, "c.bin") < 0 })
		if fi, err := c.Stat("c.bin"); err != nil || fi.Size() != int64(len(other)) {
			t.Fatalf("stat after the new upload: %v %v", fi, err)
		}
	})

	t.Run("remove cancels", func(t *testing.T) {
		g.cutUpload(t, "d.bin", data[:cutAt])
		must(t, c.Remove("d.bin")) // nothing but the pending upload: removed all the same
		if off := g.pending(t, "d.bin"); off >= 0 {
			t.Fatalf("still resumable at %d after remove", off)
		}
		if _, err := c.Stat("d.bin"); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("stat after remove: %v", err)
		}
		put(t, c, "e.bin", []byte("old"))
		g.cutUpload(t, "e.bin", data[:cutAt])
		must(t, c.Remove("e.bin")) // the file and its pending upload
		g.mustNotExist(t, "e.bin")
		if off := g.pending(t, "e.bin"); off >= 0 {
			t.Fatalf("still resumable at %d after remove", off)
		}
	})

	g.mustHaveNoPending(t)
	g.noIncompleteUploads(t)
	if n := g.metrics.UploadsResumed.Load(); n != 6 { // a.bin three times, b.bin once, f.bin twice
		t.Errorf("resumed uploads counted: %d, want 6", n)
	}
}

// paramiko finishes a cut upload by appending: STAT, then an open to
// append, whose FSTAT gives the offset it writes from.
func TestParamikoResume(t *testing.T) {
	py := paramikoPython(t)
	g := startGateway(t, gatewayOptions{resumeWindow: time.Hour, checksums: sha256Only})
	dir := t.TempDir()
	data := randomData(16<<20 + 5)
	local := filepath.Join(dir, "py.bin")
	must(t, os.WriteFile(local, data, 0o644))
	off := g.cutUpload(t, "py.bin", data[:12<<20])
	out, err := exec.Command(py, "testdata/paramiko_resume.py", "127.0.0.1", itoa(g.port), alice, alicePass,
		g.knownHost, local, "py.bin").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK resumed at "+itoa(int(off))) {
		t.Fatalf("paramiko: %v\n%s", err, out)
	}
	g.mustBeComplete(t, "py.bin", data)
	g.noIncompleteUploads(t)
}

// After the resume window the cut upload is gone: STAT finds nothing,
// reput fails, and a write at the old offset is told to start at 0.
func TestResumeAfterWindow(t *testing.T) {
	g := startGateway(t, gatewayOptions{resumeWindow: 2 * time.Second})
	dir := t.TempDir()
	data := randomData(16 << 20)
	must(t, os.WriteFile(filepath.Join(dir, "late.bin"), data, 0o644))
	off := g.cutUpload(t, "late.bin", data[:12<<20])
	time.Sleep(2500 * time.Millisecond)

	c := g.alice(t)
	if fi, err := c.Stat("late.bin"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stat after the window: %v %v", fi, err)
	}
	out, err := g.sftpCmd(t, alice, g.aliceKey.file, "", "reput late.bin\n", dir)
	if err == nil || !strings.Contains(out, "No such file") {
		t.Errorf("reput after the window: %v\n%s", err, out)
	}
	f, err := c.OpenFile("late.bin", os.O_WRONLY|os.O_CREATE)
	must(t, err)
	_, err = f.WriteAt(data[off:off+100], off)
	mustSay(t, err, "write it from byte 0")
	f.Close()
	g.mustNotExist(t, "late.bin")
	g.mustHaveNoPending(t)
	g.noIncompleteUploads(t)
}

// A draining server cuts the uploads still open after the grace period:
// they are kept, and another gateway on the bucket resumes them.
func TestDrainKeepsUploadsForResuming(t *testing.T) {
	m := testenv.SharedMinIO(t)
	g := startGateway(t, gatewayOptions{minio: m, resumeWindow: time.Hour})
	data := randomData(16 << 20)
	f, err := g.alice(t).Create("drained.bin")
	must(t, err)
	_, err = f.Write(data[:12<<20])
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := g.srv.Shutdown(ctx); err == nil {
		t.Error("Shutdown did not say an upload was still open")
	}
	g.stopped = true
	g.s3.Close(context.Background())

	g = startGateway(t, gatewayOptions{minio: m, bucket: g.bucket, resumeWindow: time.Hour})
	off := g.pending(t, "drained.bin")
	if off != 10<<20 {
		t.Fatalf("resumable at %d after the drain, want %d", off, 10<<20)
	}
	f, err = g.alice(t).OpenFile("drained.bin", os.O_WRONLY)
	must(t, err)
	_, err = f.WriteAt(data[off:], off)
	must(t, err)
	must(t, f.Close())
	g.mustBeComplete(t, "drained.bin", data)
}

// writeBig writes 64 MiB of random data to dir/name.
func writeBig(t *testing.T, dir, name string) []byte {
	t.Helper()
	data := randomData(64 << 20)
	must(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
	return data
}

// killedPut runs OpenSSH's sftp putting dir/name at 80 Mbit/s, kills it
// (sftp and its ssh, SIGKILL) once the gateway has received at bytes of
// the file, and waits until the gateway kept the cut upload. It returns the
// bytes the gateway received for it: those its upload handle took in order
// from the client (not bytes still in socket or SSH buffers, nor writes
// held out of order and dropped at the cut).
func (g *gateway) killedPut(t *testing.T, dir, name string, at int64) int64 {
	t.Helper()
	cmd := g.sftpExec(t, alice, g.aliceKey.file, "", "put "+name+"\n", dir, "-l", "80000")
	var out testenv.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start, kept := g.metrics.BytesUploaded.Load(), g.metrics.UploadsSuspended.Load()
	must(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(30 * time.Second)
	for g.metrics.BytesUploaded.Load()-start < at {
		select {
		case err := <-exited:
			t.Fatalf("sftp ended before it was killed: %v\n%s", err, out.String())
		case <-deadline:
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Fatalf("the gateway received only %d bytes in 30 s", g.metrics.BytesUploaded.Load()-start)
		case <-time.After(5 * time.Millisecond):
		}
	}
	must(t, syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL))
	<-exited
	waitFor(t, "the cut upload kept", func() bool { return g.metrics.UploadsSuspended.Load() > kept })
	return g.metrics.BytesUploaded.Load() - start
}

// cutUpload writes data into a new upload of name, then drops the
// connection without CLOSE, as a killed client would; it returns the offset
// the upload can resume from.
func (g *gateway) cutUpload(t *testing.T, name string, data []byte) int64 {
	t.Helper()
	return g.cut(t, name, func(c *sftp.Client) {
		f, err := c.Create(name)
		must(t, err)
		_, err = f.Write(data) // returns once every write was answered
		must(t, err)
	})
}

// cut runs session in a new session, then drops its connection, as a killed
// client would; it returns the offset the cut upload of name can resume from.
func (g *gateway) cut(t *testing.T, name string, session func(*sftp.Client)) int64 {
	t.Helper()
	conn, err := g.sshDial(alice, ssh.PublicKeys(g.aliceKey.signer))
	must(t, err)
	c, err := sftp.NewClient(conn, sftp.UseConcurrentWrites(true))
	must(t, err)
	session(c)
	kept := g.metrics.UploadsSuspended.Load()
	conn.Close()
	waitFor(t, "the cut upload kept", func() bool { return g.metrics.UploadsSuspended.Load() > kept })
	off := g.pending(t, name)
	if off <= 0 {
		t.Fatalf("the cut upload of %s was not kept", name)
	}
	return off
}

// pending is the offset the pending upload of name resumes from, or -1.
func (g *gateway) pending(t *testing.T, name string) int64 {
	t.Helper()
	off, ok, err := g.view().Pending(context.Background(), name)
	must(t, err)
	if !ok {
		return -1
	}
	return off
}

// mustBePending checks, as users see it, that the cut upload of name is
// invisible (old is the object of the name before, or nil) and resumable:
// OpenSSH's ls does not show it, a read-only user and a download see the
// old object, ls of the name (an LSTAT) shows the offset. It returns that
// offset.
func (g *gateway) mustBePending(t *testing.T, dir, name string, old []byte) int64 {
	t.Helper()
	off := g.pending(t, name)
	if off <= 0 {
		t.Fatalf("no pending upload of %s", name)
	}
	if old == nil {
		g.mustNotExist(t, name)
	} else {
		g.mustHave(t, name, old)
	}
	out, err := g.sftpCmd(t, alice, g.aliceKey.file, "", "ls -l\nls -l "+name+"\n", dir)
	if err != nil {
		t.Fatalf("sftp ls: %v\n%s", err, out)
	}
	t.Logf("after the cut:\n%s", out)
	listing, named, _ := strings.Cut(out, "sftp> ls -l "+name)
	if got := sizeIn(listing, name); (old == nil && got != -1) || (old != nil && got != int64(len(old))) {
		t.Errorf("ls lists %s at %d bytes, want only the old file (%d bytes)", name, got, len(old))
	}
	if got := sizeIn(named, name); got != off {
		t.Errorf("ls -l %s shows %d bytes, want the resumable offset %d", name, got, off)
	}
	ro := g.dial(t, reader, ssh.Password(readerPw))
	fi, err := ro.Stat(name)
	switch {
	case old == nil && !errors.Is(err, os.ErrNotExist):
		t.Errorf("a read-only user's stat: %v %v, want no file", fi, err)
	case old != nil && (err != nil || fi.Size() != int64(len(old))):
		t.Errorf("a read-only user's stat: %v %v, want the old file", fi, err)
	}
	if old != nil {
		f, err := ro.Open(name)
		must(t, err)
		got, _ := io.ReadAll(f)
		f.Close()
		if !bytes.Equal(got, old) {
			t.Errorf("a download during the pending upload read %d bytes, want the old %d", len(got), len(old))
		}
	}
	return off
}

// sizeIn finds name in sftp's ls -l output and returns its size (-1: not
// listed).
func sizeIn(out, name string) int64 {
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) >= 9 && (f[len(f)-1] == name || f[len(f)-1] == "/"+name) {
			n, err := strconv.ParseInt(f[4], 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// reput finishes dir/name with OpenSSH's reput; it returns the bytes the
// gateway received for it.
func (g *gateway) reput(t *testing.T, dir, name string) int64 {
	t.Helper()
	start := g.metrics.BytesUploaded.Load()
	out, err := g.sftpCmd(t, alice, g.aliceKey.file, "", "reput "+name+"\n", dir)
	if err != nil {
		t.Fatalf("reput: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	return g.metrics.BytesUploaded.Load() - start
}

// mustBeComplete checks that name is stored as data, with the whole file's
// SHA-256 recorded when the gateway records it, and that no trace of the
// pending upload is left.
func (g *gateway) mustBeComplete(t *testing.T, name string, data []byte) {
	t.Helper()
	got, err := g.object(name)
	must(t, err)
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("%s: stored %d bytes, want %d (or the SHA-256 differs)", name, len(got), len(data))
	}
	if g.pending(t, name) >= 0 {
		t.Errorf("%s is still pending after it was completed", name)
	}
	sum, err := g.view().Checksum(context.Background(), name, digest.SHA256)
	switch want := sha256.Sum256(data); {
	case errors.Is(err, storage.ErrNotExist), err != nil && strings.Contains(err.Error(), "no checksum"):
	case err != nil:
		t.Errorf("checksum of %s: %v", name, err)
	case sum != hex.EncodeToString(want[:]):
		t.Errorf("recorded SHA-256 of %s: %s, want the whole file's %x", name, sum, want)
	}
}

// mustReceiveOnlyTheRest checks what the gateway received: the resume
// exactly the bytes from the offset, the cut upload at most one part more
// than it kept.
func mustReceiveOnlyTheRest(t *testing.T, size int, off, first, rest int64) {
	t.Helper()
	t.Logf("the gateway received %d bytes before the cut (kept %d) and %d to finish: %d for a %d-byte file",
		first, off, rest, first+rest, size)
	if rest != int64(size)-off {
		t.Errorf("the resume received %d bytes, want the %d from the offset", rest, int64(size)-off)
	}
	if first-off > s3store.MinPartSize {
		t.Errorf("the cut dropped %d received bytes, more than a part", first-off)
	}
}

// mustHaveNoPending checks that no pending upload state is left in S3.
func (g *gateway) mustHaveNoPending(t *testing.T) {
	t.Helper()
	var keys []string
	must(t, g.store.List(context.Background(), s3store.PendingPrefix, storage.ListOptions{Recursive: true}, func(o storage.Object) error {
		keys = append(keys, o.Key)
		return nil
	}))
	if len(keys) != 0 {
		t.Errorf("pending upload state left: %v", keys)
	}
}

func mustSay(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want an error saying %q", err, want)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30 s for %s", what)
		}
	}
}

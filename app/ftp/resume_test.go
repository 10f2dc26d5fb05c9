package ftp_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftps3/ftps3/app/auth"
	gw "github.com/ftps3/ftps3/app/ftp"
	"github.com/ftps3/ftps3/app/storage"
	"github.com/ftps3/ftps3/app/storage/digest"
	"github.com/ftps3/ftps3/app/storage/s3store"
)

// Resuming cut uploads (resume.go): a user's upload is cut, nothing of it
// is visible, and the same user finishes it with REST + STOR or APPE; the
// object is then the whole file, checksum included, as if sent at once.

// startResumeGateway is a gateway on S3 that keeps cut uploads for an hour
// (unless o says otherwise) and records SHA-256 with every upload.
func startResumeGateway(t *testing.T, o gatewayOptions) *gateway {
	t.Helper()
	if o.resumeWindow == 0 {
		o.resumeWindow = time.Hour
	}
	o.checksums = []digest.Algorithm{digest.SHA256}
	return startGateway(t, o)
}

// pending is the store's pending upload of key, if any.
func (g *gateway) pending(t *testing.T, key string) (storage.Pending, bool) {
	t.Helper()
	p, err := g.s3.Pending(context.Background(), key)
	if errors.Is(err, storage.ErrNotExist) {
		return p, false
	}
	if err != nil {
		t.Fatalf("pending upload of %q: %v", key, err)
	}
	return p, true
}

// waitPending waits for the gateway to keep the cut upload of key, and
// returns its offset.
func (g *gateway) waitPending(t *testing.T, key string) int64 {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if p, ok := g.pending(t, key); ok {
			return p.Offset
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pending upload of %q", key)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// noPending checks that nothing is left of a pending upload of key: no
// state object under .ftps3/pending/, no incomplete multipart upload.
func (g *gateway) noPending(t *testing.T, key string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := g.store.Stat(context.Background(), s3store.StateKey(key))
		if errors.Is(err, storage.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pending upload state of %q is still there (%v)", key, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	g.noIncompleteUploads(t)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// mustHold checks that key holds exactly data, and that its recorded
// SHA-256 is that of the whole of data.
func (g *gateway) mustHold(t *testing.T, key string, data []byte) {
	t.Helper()
	got, err := g.object(key)
	if err != nil {
		t.Fatalf("object %q: %v", key, err)
	}
	if want := sha256Hex(data); sha256Hex(got) != want {
		t.Fatalf("object %q: %d bytes, sha256 %s; want %d bytes, sha256 %s", key, len(got), sha256Hex(got), len(data), want)
	}
	sums, err := g.store.(storage.Summer).Sums(context.Background(), key)
	if err != nil {
		t.Fatalf("sums of %q: %v", key, err)
	}
	if sums[digest.SHA256] != sha256Hex(data) {
		t.Fatalf("recorded sha256 of %q is %q, want the whole file's %s", key, sums[digest.SHA256], sha256Hex(data))
	}
}

// cutStor starts STOR name, sends data and cuts the data connection as a
// killed client's kernel does (a TCP FIN, no TLS close_notify), and returns
// the reply to the cut upload.
func (c *rawClient) cutStor(name string, data []byte) (int, string) {
	c.t.Helper()
	dc := c.startStor(name)
	if _, err := dc.Write(data); err != nil {
		c.t.Fatal(err)
	}
	dc.NetConn().Close()
	return c.reply()
}

// restStor sends "REST off" (none if off < 0) and cmd (STOR or APPE name),
// connects the data connection as clients do (before the reply), and if
// the transfer starts, sends data and closes it properly. It returns the
// final reply.
func (c *rawClient) restStor(off int64, cmd string, data []byte) (int, string) {
	c.t.Helper()
	if off >= 0 {
		c.expect(350, fmt.Sprintf("REST %d", off))
	}
	port := c.epsvPort()
	c.send(cmd)
	raw, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		c.t.Fatal(err)
	}
	defer raw.Close()
	code, msg := c.reply()
	if code != 150 {
		return code, msg
	}
	dc := tls.Client(raw, c.tls)
	if _, err := dc.Write(data); err != nil {
		c.t.Fatal(err)
	}
	dc.Close()
	return c.reply()
}

// size asks SIZE name: the size, or -1 and the reply if it failed.
func (c *rawClient) size(name string) (int64, string) {
	c.t.Helper()
	code, msg := c.cmd("SIZE " + name)
	if code != 213 {
		return -1, msg
	}
	n, err := strconv.ParseInt(msg[4:], 10, 64)
	if err != nil {
		c.t.Fatalf("SIZE reply %q", msg)
	}
	return n, msg
}

// The sizes of the raw tests: 11 MiB cut leaves two 5 MiB parts kept.
const (
	cutSent = 11 << 20
	cutKept = 2 * s3store.MinPartSize
)

// waitReceived waits until the gateway has read n bytes of uploads.
func waitReceived(t *testing.T, g *gateway, n int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for g.metrics.BytesUploaded.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the gateway received %d bytes, want %d", g.metrics.BytesUploaded.Load(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An upload cut in each way a client or the network cuts it is kept for
// resuming at the end of the parts S3 holds, nothing visible; a client
// still connected is told where to resume. ABOR discards it.
func TestCutUploadIsKept(t *testing.T) {
	for _, how := range []string{"fin-without-close-notify", "tcp-reset", "control-connection-lost", "data-idle-timeout", "abor"} {
		t.Run(how, func(t *testing.T) {
			g := startResumeGateway(t, gatewayOptions{tune: func(o *gw.Options) { o.DataIdleTimeout = 2 * time.Second }})
			data := randomData(cutSent)
			c := dialRaw(t, g.addr, true)
			c.login()
			dc := c.startStor("cut.bin")
			if _, err := dc.Write(data); err != nil {
				t.Fatal(err)
			}
			waitReceived(t, g, cutSent) // then the cut loses nothing the gateway read
			var reply string
			switch how {
			case "fin-without-close-notify":
				dc.NetConn().Close()
				_, reply = c.reply()
			case "tcp-reset":
				dc.NetConn().(*net.TCPConn).SetLinger(0)
				dc.NetConn().Close()
				_, reply = c.reply()
			case "control-connection-lost":
				c.conn.Close()
			case "data-idle-timeout":
				_, reply = c.reply() // sent nothing more: the gateway ends the transfer
			case "abor":
				c.send("ABOR")
				c.reply() // 426
				_, reply = c.reply()
				dc.Close()
				if _, ok := g.pending(t, "cut.bin"); ok {
					t.Fatal("ABOR kept the upload")
				}
				g.mustNotExist(t, "cut.bin")
				g.noPending(t, "cut.bin")
				return
			}
			off := g.waitPending(t, "cut.bin")
			if off != cutKept {
				t.Errorf("kept %d bytes, want the two parts sent, %d", off, cutKept)
			}
			switch how {
			case "fin-without-close-notify": // the client is still there: told where to resume
				want := fmt.Sprintf("451 Issue during transfer: the data connection ended without a TLS close_notify: the first %d bytes are kept; send the rest with REST %d and STOR, or with APPE", off, off)
				if reply != want {
					t.Errorf("reply to the cut upload: %q, want %q", reply, want)
				}
			case "tcp-reset", "data-idle-timeout": // the library's words for a failed copy
				if !strings.HasPrefix(reply, "451 ") {
					t.Errorf("reply to the cut upload: %q", reply)
				}
			}
			g.mustNotExist(t, "cut.bin")
			if !strings.Contains(g.logs.String(), `msg="upload cut: kept for resuming"`) || !strings.Contains(g.logs.String(), fmt.Sprintf("offset=%d", off)) {
				t.Errorf("the cut is not logged")
			}
		})
	}
}

// REST with another offset than the kept one is refused before any data
// is read, naming the offset, and the pending upload stays; the right
// offset then finishes the file.
func TestResumeWrongOffset(t *testing.T) {
	g := startResumeGateway(t, gatewayOptions{})
	data := randomData(cutSent + 3<<20)
	c := dialRaw(t, g.addr, true)
	c.login()
	c.cutStor("big.bin", data[:cutSent])
	off := g.waitPending(t, "big.bin")
	if n, msg := c.size("big.bin"); n != off {
		t.Fatalf("SIZE of the cut upload: %q, want %d", msg, off)
	}
	before := g.metrics.BytesUploaded.Load()
	for _, wrong := range []int64{10, off - 1, off + 1, int64(len(data))} {
		code, msg := c.restStor(wrong, "STOR big.bin", data[wrong:])
		want := fmt.Sprintf("554 Could not access file: upload /big.bin: the upload can resume at byte %d only (asked for %d)", off, wrong)
		if code != 554 || msg != want {
			t.Fatalf("REST %d + STOR: %q, want %q", wrong, msg, want)
		}
	}
	if got := g.metrics.BytesUploaded.Load() - before; got != 0 {
		t.Errorf("the refused resumes read %d bytes", got)
	}
	if p, ok := g.pending(t, "big.bin"); !ok || p.Offset != off {
		t.Fatalf("the pending upload changed: %+v, %v", p, ok)
	}
	if code, msg := c.restStor(off, "STOR big.bin", data[off:]); code != 226 {
		t.Fatalf("REST %d + STOR: %q", off, msg)
	}
	g.mustHold(t, "big.bin", data)
	g.noPending(t, "big.bin")
	c.expect(213, "SIZE big.bin")
}

// A resumed upload cut again is kept again, further on; the third
// transfer finishes the file.
func TestResumeCutTwice(t *testing.T) {
	g := startResumeGateway(t, gatewayOptions{})
	data := randomData(cutSent + 6<<20 + 1000)
	c := dialRaw(t, g.addr, true)
	c.login()
	c.cutStor("twice.bin", data[:cutSent])
	off := g.waitPending(t, "twice.bin")
	c.expect(350, fmt.Sprintf("REST %d", off))
	code, msg := c.cutStor("twice.bin", data[off:off+6<<20])
	off2 := off + s3store.MinPartSize
	if want := fmt.Sprintf("451 Issue during transfer: the data connection ended without a TLS close_notify: the first %d bytes are kept; send the rest with REST %d and STOR, or with APPE", off2, off2); code != 451 || msg != want {
		t.Fatalf("second cut: %q, want %q", msg, want)
	}
	if got := g.waitPending(t, "twice.bin"); got != off2 {
		t.Fatalf("kept %d bytes after the second cut, want %d", got, off2)
	}
	if code, msg := c.restStor(off2, "STOR twice.bin", data[off2:]); code != 226 {
		t.Fatalf("REST %d + STOR: %q", off2, msg)
	}
	g.mustHold(t, "twice.bin", data)
	g.noPending(t, "twice.bin")
}

// Two sessions resume the same upload at once: one wins, the other is told
// to try later (450), and what the winner sends is the file.
func TestResumeTwoSessionsAtOnce(t *testing.T) {
	g := startResumeGateway(t, gatewayOptions{})
	data := randomData(cutSent + 1<<20)
	a := dialRaw(t, g.addr, true)
	a.login()
	a.cutStor("race.bin", data[:cutSent])
	off := g.waitPending(t, "race.bin")

	a.expect(350, fmt.Sprintf("REST %d", off))
	dc := a.startStor("race.bin")
	if _, err := dc.Write(data[off : off+1000]); err != nil {
		t.Fatal(err)
	}
	b := dialRaw(t, g.addr, true)
	b.login()
	if n, _ := b.size("race.bin"); n != off {
		t.Errorf("SIZE during the resume: %d, want %d", n, off)
	}
	for _, cmd := range []string{"STOR", "APPE"} {
		rest := off
		if cmd == "APPE" {
			rest = -1
		}
		code, msg := b.restStor(rest, cmd+" race.bin", data[off:])
		if code != 450 || !strings.Contains(msg, "another session is resuming this upload: try again later") {
			t.Errorf("second %s while the first resumes: %q", cmd, msg)
		}
	}
	if _, err := dc.Write(data[off+1000:]); err != nil {
		t.Fatal(err)
	}
	dc.Close()
	a.expect226()
	g.mustHold(t, "race.bin", data)
	g.noPending(t, "race.bin")
}

// STOR without REST starts over: the pending upload is dropped.
func TestStorWithoutRestDiscardsPending(t *testing.T) {
	for _, rest := range []int64{-1, 0} {
		t.Run(fmt.Sprintf("rest%d", rest), func(t *testing.T) {
			g := startResumeGateway(t, gatewayOptions{})
			c := dialRaw(t, g.addr, true)
			c.login()
			c.cutStor("again.bin", randomData(cutSent))
			g.waitPending(t, "again.bin")
			fresh := randomData(3000)
			if code, msg := c.restStor(rest, "STOR again.bin", fresh); code != 226 {
				t.Fatalf("STOR: %q", msg)
			}
			g.mustHold(t, "again.bin", fresh)
			// The newer upload hides the pending one at once; its parts
			// go when the name is next asked about (here) or its window
			// ends.
			if n, msg := c.size("again.bin"); n != int64(len(fresh)) {
				t.Errorf("SIZE after the new upload: %q", msg)
			}
			g.noPending(t, "again.bin")
		})
	}
}

// DELE drops a pending upload, with or without a stored file of the name.
func TestDeleDiscardsPending(t *testing.T) {
	g := startResumeGateway(t, gatewayOptions{})
	must(t, g.dial(t).Stor("old.bin", bytes.NewReader([]byte("the old version"))))
	c := dialRaw(t, g.addr, true)
	c.login()
	for _, name := range []string{"new.bin", "old.bin"} {
		c.cutStor(name, randomData(cutSent))
		g.waitPending(t, name)
		c.expect(250, "DELE "+name)
		if n, msg := c.size(name); n >= 0 {
			t.Errorf("SIZE %s after DELE: %q", name, msg)
		}
		g.mustNotExist(t, name)
		g.noPending(t, name)
		c.expect(550, "DELE "+name)
	}
}

// APPE right after SIZE continues where SIZE said or not at all: when
// another session replaced the file in between, the rest is not spliced
// onto the new file.
func TestAppeAfterSizeOfAReplacedFile(t *testing.T) {
	g := startResumeGateway(t, gatewayOptions{})
	must(t, g.dial(t).Stor("f.bin", bytes.NewReader([]byte("the old version"))))
	data := randomData(cutSent)
	a := dialRaw(t, g.addr, true)
	a.login()
	a.cutStor("f.bin", data)
	off := g.waitPending(t, "f.bin")
	if n, msg := a.size("f.bin"); n != off {
		t.Fatalf("SIZE: %q", msg)
	}
	other := []byte("another session's file")
	must(t, g.dial(t).Stor("f.bin", bytes.NewReader(other)))
	code, msg := a.restStor(-1, "APPE f.bin", data[off:])
	if want := fmt.Sprintf("554 Could not access file: append /f.bin: the file changed since SIZE (%d bytes): it continues at byte %d now; ask SIZE again", off, len(other)); code != 554 || msg != want {
		t.Fatalf("APPE: %q, want %q", msg, want)
	}
	g.noPending(t, "f.bin")
	g.mustHold(t, "f.bin", other)
	// Without a SIZE before it, APPE appends to what is there.
	if code, msg := a.restStor(-1, "APPE f.bin", []byte("!")); code != 226 {
		t.Fatalf("APPE: %q", msg)
	}
	g.mustHold(t, "f.bin", append(other, '!'))
}

// After the resume window, the upload cannot be resumed: REST + STOR is
// refused clearly, SIZE no longer reports it, and S3 keeps nothing.
func TestResumeAfterWindow(t *testing.T) {
	g := startResumeGateway(t, gatewayOptions{resumeWindow: 2 * time.Second})
	data := randomData(cutSent)
	c := dialRaw(t, g.addr, true)
	c.login()
	c.cutStor("late.bin", data)
	off := g.waitPending(t, "late.bin")
	if n, msg := c.size("late.bin"); n != off {
		t.Fatalf("SIZE: %q", msg)
	}
	time.Sleep(2500 * time.Millisecond)
	// curl -C - would now send the rest with APPE: refused, since SIZE
	// said otherwise (the file would lack its beginning).
	code, msg := c.restStor(-1, "APPE late.bin", data[off:])
	if want := fmt.Sprintf("554 Could not access file: append /late.bin: the file changed since SIZE (%d bytes): it continues at byte 0 now; ask SIZE again", off); code != 554 || msg != want {
		t.Errorf("APPE after SIZE and the window: %q, want %q", msg, want)
	}
	g.mustNotExist(t, "late.bin")
	if n, msg := c.size("late.bin"); n >= 0 {
		t.Errorf("SIZE after the window: %q", msg)
	}
	code, msg = c.restStor(off, "STOR late.bin", data[off:])
	if want := "554 Could not access file: upload /late.bin: no cut upload of this file to resume (start again from byte 0)"; code != 554 || msg != want {
		t.Errorf("REST + STOR after the window: %q, want %q", msg, want)
	}
	g.noPending(t, "late.bin")
	if code, msg := c.restStor(-1, "STOR late.bin", data); code != 226 {
		t.Fatalf("STOR from the start: %q", msg)
	}
	g.mustHold(t, "late.bin", data)
}

// APPE onto a stored file: the object becomes old + new bytes, replaced at
// once when the upload completes; onto nothing, it is a plain upload.
func TestAppeOntoStoredFile(t *testing.T) {
	g := startResumeGateway(t, gatewayOptions{})
	c := g.dial(t)
	old, more := randomData(6<<20+5), randomData(2<<20+7)
	must(t, c.Stor("log.bin", bytes.NewReader(old)))
	must(t, c.Append("log.bin", bytes.NewReader(more)))
	g.mustHold(t, "log.bin", append(append([]byte(nil), old...), more...))
	must(t, c.Append("fresh.bin", bytes.NewReader(more)))
	g.mustHold(t, "fresh.bin", more)
	g.noIncompleteUploads(t)
}

// Who may write sees the pending upload as the newest write of its name in
// SIZE and MLST, over an older object; nothing else shows it: listings,
// MDTM and downloads see the stored object, and a read-only user sees
// only that.
func TestPendingUploadVisibility(t *testing.T) {
	g := startResumeGateway(t, gatewayOptions{users: []auth.User{
		{Login: testUser, Password: auth.Plain(testPass)},
		{Login: "reader", Password: auth.Plain(testPass), ReadOnly: true},
	}})
	old := []byte("the old version")
	gc := g.dial(t)
	must(t, gc.Stor("doc.bin", bytes.NewReader(old)))
	mdtm, err := gc.GetTime("doc.bin")
	must(t, err)
	c := dialRaw(t, g.addr, true)
	c.login()
	c.cutStor("doc.bin", randomData(cutSent))
	c.cutStor("only.bin", randomData(cutSent))
	off := g.waitPending(t, "doc.bin")
	g.waitPending(t, "only.bin")

	for _, name := range []string{"doc.bin", "only.bin"} {
		if n, msg := c.size(name); n != off {
			t.Errorf("SIZE %s: %q, want %d", name, msg, off)
		}
		if msg := c.expect(250, "MLST "+name); !strings.Contains(msg, fmt.Sprintf("Size=%d;", off)) {
			t.Errorf("MLST %s: %q", name, msg)
		}
	}
	if got, err := gc.GetTime("doc.bin"); err != nil || !got.Equal(mdtm) {
		t.Errorf("MDTM doc.bin: %v, %v; want the object's %v", got, err, mdtm)
	}
	c.expect(550, "MDTM only.bin")
	entries, err := gc.List("/")
	must(t, err)
	if len(entries) != 1 || entries[0].Name != "doc.bin" || entries[0].Size != uint64(len(old)) {
		t.Errorf("LIST shows %+v", entries)
	}
	if names, _ := gc.NameList("/"); len(names) != 1 {
		t.Errorf("NLST shows %v", names)
	}
	r, err := gc.Retr("doc.bin")
	must(t, err)
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, old) {
		t.Errorf("RETR doc.bin: %q", got)
	}
	if _, err := gc.Retr("only.bin"); err == nil {
		t.Errorf("RETR of a pending upload worked")
	}
	g.mustHold(t, "doc.bin", old)
	g.mustNotExist(t, "only.bin")

	rd := dialRaw(t, g.addr, true)
	rd.expect(331, "USER reader")
	rd.expect(230, "PASS "+testPass)
	if n, msg := rd.size("doc.bin"); n != int64(len(old)) {
		t.Errorf("read-only SIZE doc.bin: %q, want the object's %d", msg, len(old))
	}
	if msg := rd.expect(250, "MLST doc.bin"); !strings.Contains(msg, fmt.Sprintf("Size=%d;", len(old))) {
		t.Errorf("read-only MLST doc.bin: %q", msg)
	}
	rd.expect(550, "SIZE only.bin")
}

// A draining server whose grace period ends mid-upload keeps the upload,
// and another gateway on the same bucket (a restart) finishes it.
func TestResumeAfterShutdownGrace(t *testing.T) {
	g := startResumeGateway(t, gatewayOptions{})
	data := randomData(cutSent + 2<<20)
	c := dialRaw(t, g.addr, true)
	c.login()
	dc := c.startStor("drained.bin")
	if _, err := dc.Write(data[:cutSent]); err != nil {
		t.Fatal(err)
	}
	waitReceived(t, g, cutSent)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := g.srv.Shutdown(ctx); err == nil {
		t.Error("Shutdown reported no transfer cut")
	}
	off := g.waitPending(t, "drained.bin")
	g2 := startResumeGateway(t, gatewayOptions{minio: g.minio, bucket: g.bucket})
	c2 := dialRaw(t, g2.addr, true)
	c2.login()
	if n, msg := c2.size("drained.bin"); n != off {
		t.Fatalf("SIZE on the new gateway: %q, want %d", msg, off)
	}
	if code, msg := c2.restStor(off, "STOR drained.bin", data[off:]); code != 226 {
		t.Fatalf("resume on the new gateway: %q", msg)
	}
	if got := g2.metrics.BytesUploaded.Load(); got != int64(len(data))-off {
		t.Errorf("the new gateway received %d bytes, want the rest, %d", got, int64(len(data))-off)
	}
	g2.mustHold(t, "drained.bin", data)
	g2.noPending(t, "drained.bin")
}

// A real client's upload of a big file, killed (-9) at about 60 %, then
// finished by the same client: the figures checked and logged.
type killedUpload struct {
	name string
	appe bool // resumes with APPE (else REST + STOR)
	// start runs the client's upload of src as name, rate-limited.
	start func(t *testing.T, g *gateway, src, name string) *exec.Cmd
	// resume runs the client's resume of the same upload.
	resume func(t *testing.T, g *gateway, src, name string) (string, error)
}

const (
	killSize = 64 << 20
	killRate = 8 << 20 // bytes per second: 60 % in about 5 s
)

func curlArgs(g *gateway, extra ...string) []string {
	return append([]string{"-sS", "--fail", "-k", "--ssl-reqd", "--user", testUser + ":" + testPass, "--max-time", "60"}, extra...)
}

var curlUpload = killedUpload{
	name: "curl", appe: true,
	start: func(t *testing.T, g *gateway, src, name string) *exec.Cmd {
		return exec.Command("curl", curlArgs(g, "--limit-rate", strconv.Itoa(killRate), "-T", src, fmt.Sprintf("ftp://127.0.0.1:%d/%s", g.port, name))...)
	},
	// curl -C - asks SIZE, then sends the rest with APPE.
	resume: func(t *testing.T, g *gateway, src, name string) (string, error) {
		return run(t, "curl", curlArgs(g, "-C", "-", "-T", src, fmt.Sprintf("ftp://127.0.0.1:%d/%s", g.port, name))...)
	},
}

func lftpScript(g *gateway, rate int, put string) string {
	return fmt.Sprintf(`set cmd:fail-exit yes
set ssl:verify-certificate no
set ftp:ssl-force yes
set ftp:ssl-protect-data yes
set net:max-retries 1
set net:timeout 20
set net:limit-rate %d
open -u "%s,%s" ftp://127.0.0.1:%d
%s
bye
`, rate, testUser, testPass, g.port, put)
}

var lftpUpload = killedUpload{
	name: "lftp",
	start: func(t *testing.T, g *gateway, src, name string) *exec.Cmd {
		return exec.Command("lftp", "-c", lftpScript(g, killRate, fmt.Sprintf("put %q -o %q", src, name)))
	},
	// lftp's put -c asks SIZE, then sends the rest with REST + STOR.
	resume: func(t *testing.T, g *gateway, src, name string) (string, error) {
		return run(t, "lftp", "-c", lftpScript(g, 0, fmt.Sprintf("put -c %q -o %q", src, name)))
	},
}

var ftplibUpload = killedUpload{
	name: "ftplib",
	start: func(t *testing.T, g *gateway, src, name string) *exec.Cmd {
		return exec.Command("python3", "testdata/ftplib_resume.py", "127.0.0.1", strconv.Itoa(g.port), testUser, testPass, src, name, "upload", strconv.Itoa(killRate))
	},
	// SIZE, then storbinary(..., rest=n): REST n + STOR.
	resume: func(t *testing.T, g *gateway, src, name string) (string, error) {
		out, err := run(t, "python3", "testdata/ftplib_resume.py", "127.0.0.1", strconv.Itoa(g.port), testUser, testPass, src, name, "resume")
		if err == nil && !strings.Contains(out, "UPLOAD OK") {
			err = errors.New("no UPLOAD OK")
		}
		return out, err
	},
}

// killAndResume is a user's session: a big upload over an older file of
// the same name, the client killed at about 60 %; nothing of it visible;
// then (after a gateway restart if restart is set) the same client
// finishes it, sending only the rest.
func killAndResume(t *testing.T, cl killedUpload, restart bool) {
	needTool(t, map[string]string{"curl": "curl", "lftp": "lftp", "ftplib": "python3"}[cl.name])
	g := startResumeGateway(t, gatewayOptions{})
	name := "upload-by-" + cl.name + ".bin"
	data := randomData(killSize)
	src := writeTemp(t, "src.bin", data)
	old := []byte("the previous version of the file")
	must(t, g.dial(t).Stor(name, bytes.NewReader(old)))
	before := g.metrics.BytesUploaded.Load()

	cmd := cl.start(t, g, src, name)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	must(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for g.metrics.BytesUploaded.Load()-before < killSize*6/10 {
		select {
		case err := <-exited:
			t.Fatalf("%s ended before it was killed: %v\n%s", cl.name, err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("%s sent %d bytes in 30 s", cl.name, g.metrics.BytesUploaded.Load()-before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	must(t, cmd.Process.Kill()) // SIGKILL: no QUIT, no close_notify
	<-exited

	off := g.waitPending(t, name)
	received1 := g.metrics.BytesUploaded.Load() - before
	if off <= 0 || off > received1 || received1-off >= s3store.MinPartSize {
		t.Errorf("kept %d bytes of the %d received: want all but less than one part", off, received1)
	}
	// Nothing of it is visible: the old file is listed, downloaded, stored.
	gc := g.dial(t)
	entries, err := gc.List("/")
	must(t, err)
	if len(entries) != 1 || entries[0].Size != uint64(len(old)) {
		t.Errorf("LIST after the kill: %+v", entries)
	}
	r, err := gc.Retr(name)
	must(t, err)
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, old) {
		t.Errorf("RETR after the kill: %d bytes", len(got))
	}
	g.mustHold(t, name, old)
	gc.Quit()

	if restart {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		must(t, g.srv.Shutdown(ctx))
		cancel()
		g = startResumeGateway(t, gatewayOptions{minio: g.minio, bucket: g.bucket})
	}
	before2 := g.metrics.BytesUploaded.Load()
	if out, err := cl.resume(t, g, src, name); err != nil {
		t.Fatalf("%s resume: %v\n%s", cl.name, err, out)
	}
	received2 := g.metrics.BytesUploaded.Load() - before2
	if received2 != killSize-off {
		t.Errorf("the resume sent %d bytes, want the rest, %d", received2, killSize-off)
	}
	g.mustHold(t, name, data)
	g.noPending(t, name)
	if appe := strings.Contains(g.logs.String(), `msg="upload continued"`); appe != cl.appe || !strings.Contains(g.logs.String(), `msg="upload resumed" session=`) {
		t.Errorf("%s did not resume as expected (APPE: %v)", cl.name, cl.appe)
	}
	t.Logf("%s: killed after %d bytes received, kept %d (%.0f %%), resumed with %d bytes: %d received in all for %d (%d more)",
		cl.name, received1, off, 100*float64(off)/killSize, received2, received1+received2, killSize, received1+received2-killSize)
}

func TestResumeKilledCurl(t *testing.T)   { killAndResume(t, curlUpload, false) }
func TestResumeKilledLftp(t *testing.T)   { killAndResume(t, lftpUpload, false) }
func TestResumeKilledFtplib(t *testing.T) { killAndResume(t, ftplibUpload, false) }

// The same across a gateway restart: a new server on the same bucket.
func TestResumeKilledCurlAfterRestart(t *testing.T) { killAndResume(t, curlUpload, true) }

// The local-directory store cannot keep cut uploads: a cut upload is
// discarded as before, and REST + STOR is refused, saying so.
func TestResumeOnLocalStore(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file"})
	c := dialRaw(t, g.addr, true)
	c.login()
	if code, msg := c.cutStor("cut.bin", randomData(1<<20)); code != 451 || !strings.Contains(msg, "discarded") {
		t.Errorf("cut upload: %q", msg)
	}
	c.expect(550, "SIZE cut.bin")
	code, msg := c.restStor(1000, "STOR cut.bin", []byte("rest"))
	if want := "554 Could not access file: upload /cut.bin: this server's store cannot resume uploads: send the whole file"; code != 554 || msg != want {
		t.Errorf("REST + STOR: %q, want %q", msg, want)
	}
	g.mustNotExist(t, "cut.bin")
}

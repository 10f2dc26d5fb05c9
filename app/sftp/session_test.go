package sftp_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"

	gw "github.com/ftps3/ftps3/app/sftp"
	"golang.org/x/crypto/ssh"
)

// Byte-exact round trips through the Go client (key login), on S3 and on a
// local directory, at the sizes around S3's 5 MiB part size.
func TestGoClientRoundTrip(t *testing.T) {
	for _, backend := range []string{"s3", "file"} {
		t.Run(backend, func(t *testing.T) {
			g := startGateway(t, gatewayOptions{backend: backend})
			c := g.alice(t)
			for _, size := range []int{0, 1, 5<<20 - 1, 5 << 20, 5<<20 + 1, 12 << 20} {
				name := fmt.Sprintf("f%d.bin", size)
				data := randomData(size)
				f, err := c.Create(name)
				must(t, err)
				_, err = f.ReadFrom(bytes.NewReader(data))
				must(t, err)
				must(t, f.Close())
				g.mustHave(t, name, data)
				r, err := c.Open(name)
				must(t, err)
				var got bytes.Buffer
				_, err = r.WriteTo(&got)
				must(t, err)
				r.Close()
				if !bytes.Equal(got.Bytes(), data) {
					t.Fatalf("%s: got %d bytes back, want %d (or content differs)", name, got.Len(), size)
				}
				fi, err := c.Stat(name)
				must(t, err)
				if fi.Size() != int64(size) || fi.IsDir() {
					t.Fatalf("stat %s: %d bytes, dir %v", name, fi.Size(), fi.IsDir())
				}
			}
			g.noIncompleteUploads(t)
			if g.metrics.UploadsOK.Load() != 6 || g.metrics.DownloadsOK.Load() != 6 {
				t.Errorf("metrics: uploads %d, downloads %d", g.metrics.UploadsOK.Load(), g.metrics.DownloadsOK.Load())
			}
		})
	}
}

// Writes sent out of order within the window make the right object; a
// write far beyond the window, a hole left at CLOSE, and a write over bytes
// already stored fail, and nothing is stored.
func TestOutOfOrderWrites(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file", window: 1 << 20})
	c := g.alice(t)

	data := randomData(3<<20 + 777)
	const chunk = 32 << 10
	var offs []int
	for off := 0; off < len(data); off += chunk {
		offs = append(offs, off)
	}
	// Shuffle within groups of 16 chunks (512 KiB, inside the window).
	for i := 0; i < len(offs); i += 16 {
		grp := offs[i:min(i+16, len(offs))]
		rand.Shuffle(len(grp), func(a, b int) { grp[a], grp[b] = grp[b], grp[a] })
	}
	f, err := c.Create("shuffled.bin")
	must(t, err)
	for _, off := range offs {
		_, err := f.WriteAt(data[off:min(off+chunk, len(data))], int64(off))
		must(t, err)
	}
	must(t, f.Close())
	g.mustHave(t, "shuffled.bin", data)

	// Far beyond the window.
	f, err = c.Create("far.bin")
	must(t, err)
	_, err = f.WriteAt([]byte("x"), 5<<20)
	if err == nil || !strings.Contains(err.Error(), "too far ahead") {
		t.Fatalf("write beyond the window: %v", err)
	}
	if err := f.Close(); err == nil {
		t.Fatal("close after a refused write succeeded")
	}
	g.mustNotExist(t, "far.bin")

	// A hole at CLOSE.
	f, err = c.Create("hole.bin")
	must(t, err)
	_, err = f.WriteAt([]byte("tail"), 100)
	must(t, err)
	if err := f.Close(); err == nil || !strings.Contains(err.Error(), "hole") {
		t.Fatalf("close with a hole: %v", err)
	}
	g.mustNotExist(t, "hole.bin")

	// Over bytes already stored.
	f, err = c.Create("rewrite.bin")
	must(t, err)
	_, err = f.WriteAt([]byte("hello"), 0)
	must(t, err)
	_, err = f.WriteAt([]byte("J"), 0)
	if err == nil || !strings.Contains(err.Error(), "already stored") {
		t.Fatalf("rewrite: %v", err)
	}
	f.Close()
	g.mustNotExist(t, "rewrite.bin")
}

// An upload's writes (64 in flight) go by the fast path while the same
// session asks other things at once: every reply reaches its request, the
// object is byte-exact, and the listing and stats are right.
func TestUploadWithOtherRequestsInFlight(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	c := g.alice(t)
	put(t, c, "small.txt", []byte("small"))
	before := gw.FastWrites(g.srv)

	data := randomData(24<<20 + 5)
	done := make(chan error, 1)
	go func() {
		f, err := c.Create("big.bin")
		if err == nil {
			_, err = f.ReadFrom(bytes.NewReader(data))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		done <- err
	}()
	asked := 0
	for running := true; running; asked++ {
		select {
		case err := <-done:
			must(t, err)
			running = false
		default:
		}
		fi, err := c.Stat("small.txt")
		if err != nil || fi.Size() != 5 {
			t.Fatalf("stat during the upload: %v, %v", fi, err)
		}
		if asked%10 == 0 {
			if _, err := c.ReadDir("/"); err != nil {
				t.Fatalf("readdir during the upload: %v", err)
			}
		}
	}
	g.mustHave(t, "big.bin", data)
	if n := gw.FastWrites(g.srv) - before; n < int64(len(data)>>15) {
		t.Errorf("%d writes by the fast path, want the upload's %d at least", n, len(data)>>15)
	}
	t.Logf("%d stats and listings during the upload", asked)
}

// Opening an existing file for writing without truncation is refused: the
// object would not be what the client thinks it wrote. Appending works
// (written from the file's size), on the local store too.
func TestWriteIntoExistingFileRefused(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file"})
	c := g.alice(t)
	old := []byte("previous content")
	f, err := c.Create("a.txt")
	must(t, err)
	f.Write(old)
	must(t, f.Close())
	if _, err := c.OpenFile("a.txt", os.O_WRONLY); err == nil || !strings.Contains(err.Error(), "existing file") {
		t.Fatalf("open existing without truncation: %v", err)
	}
	if _, err := c.OpenFile("a.txt", os.O_WRONLY|os.O_CREATE|os.O_EXCL); err == nil {
		t.Fatal("O_EXCL on an existing file accepted")
	}
	g.mustHave(t, "a.txt", old)
	// Appending: a write anywhere but at the end is refused, naming the end.
	f, err = c.OpenFile("a.txt", os.O_WRONLY|os.O_APPEND)
	must(t, err)
	_, err = f.WriteAt([]byte("x"), 0)
	mustSay(t, err, "write from byte "+itoa(len(old)))
	f.Close()
	g.mustHave(t, "a.txt", old)
	f, err = c.OpenFile("a.txt", os.O_WRONLY|os.O_APPEND)
	must(t, err)
	_, err = f.WriteAt([]byte(", and more"), int64(len(old)))
	must(t, err)
	must(t, f.Close())
	g.mustHave(t, "a.txt", []byte("previous content, and more"))
	// A new file needs no truncation flag.
	f, err = c.OpenFile("new.txt", os.O_WRONLY|os.O_CREATE)
	must(t, err)
	f.Write([]byte("new"))
	must(t, f.Close())
	g.mustHave(t, "new.txt", []byte("new"))
}

// Directories, renames, removes, SETSTAT after upload, symlinks refused,
// REALPATH inside the home, and a listing read page by page.
func TestDirectoriesAndCommands(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	c := g.alice(t)
	must(t, c.Mkdir("in"))
	must(t, c.Mkdir("in/sub"))
	if err := c.Mkdir("in"); err == nil {
		t.Error("mkdir of an existing directory succeeded")
	}
	put(t, c, "in/a.txt", []byte("a"))
	// Times and modes after an upload: a no-op that succeeds.
	must(t, c.Chtimes("in/a.txt", time.Now(), time.Now()))
	must(t, c.Chmod("in/a.txt", 0o600))
	if err := c.Truncate("in/a.txt", 0); err == nil {
		t.Error("truncate succeeded")
	}
	must(t, c.Rename("in/a.txt", "in/b.txt"))
	put(t, c, "in/c.txt", []byte("c"))
	if err := c.Rename("in/c.txt", "in/b.txt"); err == nil {
		t.Error("rename onto an existing file succeeded (SFTP v3 rename never replaces)")
	}
	must(t, c.PosixRename("in/c.txt", "in/b.txt"))
	g.mustHave(t, "in/b.txt", []byte("c"))
	if err := c.RemoveDirectory("in"); err == nil {
		t.Error("rmdir of a non-empty directory succeeded")
	}
	if err := c.Symlink("in/b.txt", "link"); err == nil {
		t.Error("symlink succeeded")
	}
	must(t, c.Remove("in/b.txt"))
	must(t, c.RemoveDirectory("in/sub"))
	must(t, c.RemoveDirectory("in"))
	if _, err := c.Stat("in"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat of a removed directory: %v", err)
	}
	for in, want := range map[string]string{".": "/", "../../..": "/", "/a/../../b": "/b", "x/./y": "/x/y"} {
		got, err := c.RealPath(in)
		must(t, err)
		if got != want {
			t.Errorf("realpath %q = %q, want %q", in, got, want)
		}
	}

	// 250 entries: three READDIR pages of 100.
	must(t, c.Mkdir("many"))
	var want []string
	for i := range 250 {
		name := fmt.Sprintf("f%03d", i)
		want = append(want, name)
		put(t, c, "many/"+name, nil)
	}
	must(t, c.Mkdir("many/zdir"))
	want = append(want, "zdir")
	entries, err := c.ReadDir("many")
	must(t, err)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	sort.Strings(got)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("listing: %d entries, want %d", len(got), len(want))
	}
	if _, err := c.ReadDir("many/f000"); err == nil {
		t.Error("listing a file as a directory succeeded")
	}
}

func put(t *testing.T, c *sftp.Client, name string, data []byte) {
	t.Helper()
	f, err := c.Create(name)
	must(t, err)
	_, err = f.Write(data)
	must(t, err)
	must(t, f.Close())
}

// A user confined to a home sees it as "/" and cannot reach outside it.
func TestHomeConfinement(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	admin := g.alice(t) // alice's home is the bucket root
	must(t, admin.MkdirAll("partners/bob"))
	put(t, admin, "secret.txt", []byte("top secret"))
	put(t, admin, "partners/other.txt", []byte("other"))

	bob := g.dial(t, keyOnly, ssh.PublicKeys(g.bobKey.signer))
	put(t, bob, "../../mine.txt", []byte("mine"))
	g.mustHave(t, "partners/bob/mine.txt", []byte("mine"))
	for _, p := range []string{"../secret.txt", "../../secret.txt", "/../../../secret.txt", "../other.txt"} {
		if _, err := bob.Open(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("open %q from a confined home: %v", p, err)
		}
	}
	entries, err := bob.ReadDir("../..")
	must(t, err)
	if len(entries) != 1 || entries[0].Name() != "mine.txt" {
		t.Errorf("listing of ../.. from the home: %v", entries)
	}
	if rp, _ := bob.RealPath("../../.."); rp != "/" {
		t.Errorf("realpath = %q", rp)
	}
}

// A read-only user downloads and lists; every change is refused.
func TestReadOnlyUser(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file"})
	put(t, g.alice(t), "doc.txt", []byte("read me"))
	c := g.dial(t, reader, ssh.Password(readerPw))
	r, err := c.Open("doc.txt")
	must(t, err)
	got, _ := io.ReadAll(r)
	r.Close()
	if string(got) != "read me" {
		t.Errorf("download: %q", got)
	}
	if _, err := c.Create("new.txt"); !errors.Is(err, os.ErrPermission) {
		t.Errorf("upload: %v", err)
	}
	for name, err := range map[string]error{
		"mkdir": c.Mkdir("d"), "remove": c.Remove("doc.txt"), "rename": c.Rename("doc.txt", "x.txt"),
	} {
		if !errors.Is(err, os.ErrPermission) {
			t.Errorf("%s: %v", name, err)
		}
	}
	g.mustHave(t, "doc.txt", []byte("read me"))
}

// Wrong passwords and keys are refused and counted; a key-only user has no
// password; the throttle then refuses the address.
func TestWrongCredentials(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file"})
	stranger := newClientKey(t)
	cases := map[string][]ssh.AuthMethod{
		"alice wrong password": {ssh.Password("nope")},
		"alice wrong key":      {ssh.PublicKeys(stranger.signer)},
		"bob's key for alice":  {ssh.PublicKeys(g.bobKey.signer)},
		"bob with a password":  {ssh.Password("")},
	}
	for name, auths := range cases {
		user := alice
		if strings.HasPrefix(name, "bob with") {
			user = keyOnly
		}
		if c, err := g.tryDial(user, auths...); err == nil {
			c.Close()
			t.Errorf("%s: logged in", name)
		}
	}
	// Both methods work for alice.
	g.dial(t, alice, ssh.Password(alicePass)).Close()
	g.alice(t).Close()
	g.stop(t) // every connection's handler has ended
	if n := g.metrics.LoginsFailed.Load(); n != 4 {
		t.Errorf("failed logins counted: %d, want 4", n)
	}
	if n := g.metrics.LoginsOK.Load(); n != 2 {
		t.Errorf("logins counted: %d, want 2", n)
	}
}

func TestThrottleRefusesTheAddress(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file", throttle: newThrottle(3)})
	for range 3 {
		if c, err := g.tryDial(alice, ssh.Password("nope")); err == nil {
			c.Close()
		}
	}
	if _, err := g.tryDial(alice, ssh.Password(alicePass)); err == nil {
		t.Fatal("login from a throttled address succeeded")
	}
	if g.metrics.LoginsThrottled.Load() == 0 {
		t.Error("throttled logins not counted")
	}
}

// Only the sftp subsystem (and the checksum commands, sumcmd_test.go): a
// shell, another subsystem and port forwarding are refused.
func TestOnlyTheSFTPSubsystem(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file"})
	conn, err := g.sshDial(alice, ssh.Password(alicePass))
	must(t, err)
	defer conn.Close()
	for _, run := range []func(*ssh.Session) error{
		func(s *ssh.Session) error { return s.Shell() },
		func(s *ssh.Session) error { return s.RequestSubsystem("other") },
	} {
		s, err := conn.NewSession()
		must(t, err)
		if err := run(s); err == nil {
			t.Error("request accepted")
		}
		s.Close()
	}
	if _, err := conn.Dial("tcp", "127.0.0.1:1"); err == nil {
		t.Error("port forwarding accepted")
	}
}

// A logged-in client that sends malformed requests ends its own session;
// the server and everyone else's sessions go on.
func TestMalformedRequestsEndOnlyTheirSession(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file"})
	other := g.alice(t)
	put(t, other, "before.txt", []byte("before"))
	for _, bad := range [][]byte{{0, 0, 0, 1, 4}, {0, 0, 0, 1, 6}, {0, 0, 0, 4, 6, 0, 0, 0}} {
		conn, err := g.sshDial(alice, ssh.PublicKeys(g.aliceKey.signer))
		must(t, err)
		s, err := conn.NewSession()
		must(t, err)
		in, err := s.StdinPipe()
		must(t, err)
		out, err := s.StdoutPipe()
		must(t, err)
		must(t, s.RequestSubsystem("sftp"))
		_, err = in.Write([]byte{0, 0, 0, 5, 1, 0, 0, 0, 3}) // INIT, version 3
		must(t, err)
		hdr := make([]byte, 4)
		_, err = io.ReadFull(out, hdr)
		must(t, err) // VERSION
		_, err = io.CopyN(io.Discard, out, int64(hdr[0])<<24|int64(hdr[1])<<16|int64(hdr[2])<<8|int64(hdr[3]))
		must(t, err)
		_, err = in.Write(bad)
		must(t, err)
		in.Close()
		io.Copy(io.Discard, out) // the session ends
		conn.Close()
	}
	put(t, other, "after.txt", []byte("after"))
	g.mustHave(t, "after.txt", []byte("after"))
	g.alice(t) // and new sessions start
}

// A client writing in chunks larger than the session's read buffer: the
// handle's writes all go to pkg/sftp, in whatever order its workers take
// them, and the file is byte-exact.
func TestWritesLargerThanTheReadBuffer(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	conn, err := g.sshDial(alice, ssh.PublicKeys(g.aliceKey.signer))
	must(t, err)
	defer conn.Close()
	c, err := sftp.NewClient(conn, sftp.MaxPacketUnchecked(200<<10), sftp.UseConcurrentWrites(true), sftp.MaxConcurrentRequestsPerFile(32))
	must(t, err)
	defer c.Close()
	data := randomData(12<<20 + 3)
	f, err := c.Create("large-writes.bin")
	must(t, err)
	_, err = f.ReadFrom(bytes.NewReader(data))
	must(t, err)
	must(t, f.Close())
	g.mustHave(t, "large-writes.bin", data)
}

// At most 10 sessions at once on one connection, as OpenSSH's MaxSessions:
// the 11th is refused, and a session closed makes room for another.
func TestSessionsPerConnectionBounded(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file"})
	conn, err := g.sshDial(alice, ssh.PublicKeys(g.aliceKey.signer))
	must(t, err)
	defer conn.Close()
	var sessions []*sftp.Client
	for range 10 {
		c, err := sftp.NewClient(conn)
		must(t, err)
		sessions = append(sessions, c)
	}
	if c, err := sftp.NewClient(conn); err == nil {
		c.Close()
		t.Fatal("an 11th session on one connection was accepted")
	}
	put(t, sessions[3], "still.txt", []byte("working"))
	must(t, sessions[0].Close())
	var c *sftp.Client
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err = sftp.NewClient(conn); err == nil || time.Now().After(deadline) {
			break
		}
	}
	must(t, err)
	put(t, c, "again.txt", []byte("again"))
	g.mustHave(t, "again.txt", []byte("again"))
}

// A download streams by the fast path, byte-exact with 64 reads in flight;
// random reads (behind, far ahead, across the end, at the end) get the
// right bytes too, and a read at the end gets EOF.
func TestDownloadsSequentialAndRandom(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	c := g.alice(t)
	data := randomData(20<<20 + 3)
	put(t, c, "big.bin", data)
	before := gw.FastReads(g.srv)

	f, err := c.Open("big.bin")
	must(t, err)
	var got bytes.Buffer
	_, err = f.WriteTo(&got) // concurrent reads
	must(t, err)
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("downloaded %d bytes, not the %d uploaded (or other bytes)", got.Len(), len(data))
	}
	if n := gw.FastReads(g.srv) - before; n < int64(len(data)>>15) {
		t.Errorf("%d reads by the fast path, want the download's %d at least", n, len(data)>>15)
	}

	for _, r := range []struct {
		off int64
		n   int
	}{{5 << 20, 1000}, {0, 10}, {19 << 20, 40000}, {1 << 20, 32 << 10}, {int64(len(data)) - 7, 100}, {3, 70000}} {
		buf := make([]byte, r.n)
		n, err := f.ReadAt(buf, r.off)
		want := data[r.off:min(r.off+int64(r.n), int64(len(data)))]
		if n != len(want) || !bytes.Equal(buf[:n], want) {
			t.Fatalf("read of %d at %d: %d bytes (%v), want %d", r.n, r.off, n, err, len(want))
		}
		if n < r.n && !errors.Is(err, io.EOF) {
			t.Fatalf("short read at %d: %v, want EOF", r.off, err)
		}
	}
	if n, err := f.ReadAt(make([]byte, 10), int64(len(data))); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("read at the end: %d, %v; want EOF", n, err)
	}
	must(t, f.Close())
}

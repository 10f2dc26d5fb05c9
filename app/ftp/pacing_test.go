package ftp_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A client that sends its transfer command a second after the passive
// reply (what curl 7.88 does when it loses the race in pacing.go) gets its
// later passive replies paced; a prompt client never does.
func TestLateTransferPacesPassiveReplies(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file"})

	prompt := dialRaw(t, g.addr, true)
	prompt.login()
	for i := range 3 {
		prompt.store(fmt.Sprintf("prompt-%d", i), []byte("x"))
	}
	if n := g.metrics.PacedSessions.Load(); n != 0 {
		t.Fatalf("a prompt session was paced (%d)", n)
	}

	late := dialRaw(t, g.addr, true)
	late.login()
	port := late.epsvPort()
	time.Sleep(1100 * time.Millisecond) // curl asleep in its poll loop
	late.storOn(port, "late", []byte("late"))
	if n := g.metrics.PacedSessions.Load(); n != 1 {
		t.Fatalf("paced sessions: %d, want 1", n)
	}
	if !strings.Contains(g.logs.String(), "passive replies are paced") {
		t.Error("pacing was not logged")
	}
	late.send("EPSV")
	start := time.Now()
	if code, msg := late.reply(); code != 229 {
		t.Fatalf("EPSV: %s", msg)
	}
	if d := time.Since(start); d < time.Millisecond {
		t.Errorf("the paced EPSV reply came after %s, before the pace", d)
	}
	late.expect(200, "NOOP") // the port reserved by that EPSV is simply left unused
	late.store("after", []byte("after"))

	for name, want := range map[string]string{"late": "late", "after": "after", "prompt-2": "x"} {
		if got, err := g.object(name); err != nil || string(got) != want {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}
}

// store uploads data as name on a new passive port.
func (c *rawClient) store(name string, data []byte) {
	c.t.Helper()
	c.storOn(c.epsvPort(), name, data)
}

// storOn uploads data as name on the passive port already announced.
func (c *rawClient) storOn(port int, name string, data []byte) {
	c.t.Helper()
	c.send("STOR " + name)
	dc := c.openData(port)
	c.expect150()
	if _, err := dc.Write(data); err != nil {
		c.t.Fatal(err)
	}
	if err := dc.Close(); err != nil {
		c.t.Fatal(err)
	}
	c.expect226()
}

// curl's multi-file upload (-T "{a,b,...}": one session, one data
// connection per file) stores every file byte-exact, whether or not it
// loses the race pacing.go is about.
func TestCurlManyFilesOneSession(t *testing.T) {
	needTool(t, "curl")
	g := startGateway(t, gatewayOptions{})
	dir := t.TempDir()
	var names []string
	want := map[string][]byte{}
	for i := range 60 {
		name := fmt.Sprintf("f%02d.bin", i)
		data := randomData(16<<10 + i)
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		names, want[name] = append(names, filepath.Join(dir, name)), data
	}
	out, err := run(t, "curl", "-sS", "--fail", "-k", "--ssl-reqd", "--user", testUser+":"+testPass, "--max-time", "100",
		"--ftp-create-dirs", "-T", "{"+strings.Join(names, ",")+"}", fmt.Sprintf("ftp://127.0.0.1:%d/many/", g.port))
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	for name, data := range want {
		if got, err := g.object("many/" + name); err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: %d bytes of %d, %v", name, len(got), len(data), err)
		}
	}
	t.Logf("sessions paced: %d", g.metrics.PacedSessions.Load())
	g.noIncompleteUploads(t)
}

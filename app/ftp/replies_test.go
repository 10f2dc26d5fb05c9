package ftp_test

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// Each reply rewrite of replies.go, provoked through a real session: if the
// library's wording changes, the rewrite stops matching and these fail.
// (425 for busy data ports: TestAllDataPortsBusy; 536 for PROT C:
// TestBadInputKeepsTheSession.)

// A transfer that fails midway is answered 451 (retry), not the library's 550.
func TestFailedTransferIs451(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file"})
	c := dialRaw(t, g.addr, true)
	c.login()
	dc := c.startStor("cut.bin")
	dc.Write(randomData(1 << 20))
	dc.NetConn().Close() // TCP FIN without close_notify: a cut upload
	code, msg := c.reply()
	if code != 451 || !strings.Contains(msg, "close_notify") {
		t.Fatalf("cut upload answered %q, want 451 saying why", msg)
	}
	c.expect(200, "NOOP")
}

// Commands the library mishandles reach it as stand-ins, and every reply
// comes in order, with the session kept.
func TestCommandFixes(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file"})
	data := randomData(1000)
	must(t, g.dial(t).Stor("f.bin", bytes.NewReader(data)))
	c := dialRaw(t, g.addr, true)
	c.login()

	c.expect(503, "AUTH TLS") // already TLS: the session survives
	c.expect(502, "PORT 127,0,0,1,4,1")
	c.expect(502, "EPRT |1|127.0.0.1|1025|")
	c.expect(501, "REST -1")
	c.expect(501, "REST lots")
	if msg := c.expect(211, "STAT"); !strings.Contains(msg, "Connected from 127.0.0.1:") || !strings.Contains(msg, "Logged in as "+testUser) || strings.Contains(msg, "Connected to  from") {
		t.Errorf("STAT: %q", msg)
	}
	c.expect(257, "MKD d")
	msg := c.expect(212, "STAT /")
	for _, line := range strings.Split(msg, "\n")[1:] {
		if strings.HasPrefix(line, " %s") {
			t.Errorf("STAT / line %q", line)
		}
	}
	if !strings.Contains(msg, "f.bin") {
		t.Errorf("STAT / lacks f.bin: %q", msg)
	}

	// REST applies to the transfer right after it, not past a SIZE.
	c.expect(350, "REST 500")
	c.expect(213, "SIZE f.bin")
	port := c.epsvPort()
	c.send("RETR f.bin")
	dc := c.openData(port)
	c.expect150()
	got, _ := io.ReadAll(dc)
	if !bytes.Equal(got, data) {
		t.Errorf("RETR after REST and SIZE sent %d bytes, want the whole %d", len(got), len(data))
	}
	c.expect226()
	// And right before the transfer, it does apply.
	c.expect(350, "REST 500")
	port = c.epsvPort()
	c.send("RETR f.bin")
	dc = c.openData(port)
	c.expect150()
	got, _ = io.ReadAll(dc)
	if !bytes.Equal(got, data[500:]) {
		t.Errorf("RETR after REST 500 sent %d bytes, want %d", len(got), len(data)-500)
	}
	c.expect226()
	c.expect(200, "NOOP")
}

func (c *rawClient) expect150() {
	c.t.Helper()
	if code, msg := c.reply(); code != 150 {
		c.t.Fatalf("want 150, got %q", msg)
	}
}

func (c *rawClient) expect226() {
	c.t.Helper()
	if code, msg := c.reply(); code != 226 {
		c.t.Fatalf("want 226, got %q", msg)
	}
}

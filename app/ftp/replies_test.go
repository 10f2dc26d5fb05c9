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
// TestBadInputKeepsTheSession; a transfer's error without "driver error:
// calling GetHandle": TestResumeWrongOffset.)

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

// REST before login is refused, and the next command is answered as itself
// (the REST left nothing pending to cancel).
func TestRestBeforeLogin(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file"})
	c := dialRaw(t, g.addr, true)
	c.expect(530, "REST 5")
	c.expect(331, "USER "+testUser)
	c.expect(230, "PASS "+testPass)
	c.expect(257, "MKD d")
	c.expect(350, "RNFR d")
	c.expect(250, "RNTO e")
}

// Pipelined commands keep their own answers: PROT C gets 536, the TYPE
// before it 200.
func TestPipelinedProtC(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file"})
	c := dialRaw(t, g.addr, true)
	c.login()
	c.send("TYPE I\r\nPROT C")
	if code, msg := c.reply(); code != 200 {
		t.Errorf("TYPE I: %q", msg)
	}
	if code, msg := c.reply(); code != 536 {
		t.Errorf("PROT C: %q", msg)
	}
	c.expect(200, "PROT P")
}

// ABOR ends a download whose client stopped reading at once, not after the
// data idle timeout.
func TestAborStalledDownload(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file"})
	must(t, g.dial(t).Stor("big.bin", bytes.NewReader(randomData(64<<20))))
	c := dialRaw(t, g.addr, true)
	c.login()
	port := c.epsvPort()
	c.send("RETR big.bin")
	dc := c.openData(port)
	c.expect150()
	dc.Handshake() // then read nothing: the server's writes stall
	c.send("ABOR")
	for {
		code, msg := c.reply() // within the reply deadline, far below the 2 min idle timeout
		if code == 226 || code == 225 {
			break
		}
		if code < 400 {
			t.Fatalf("ABOR: %q", msg)
		}
	}
	dc.Close()
	c.expect(200, "NOOP")
}

// The stand-ins and a client's own SYST keep their answers in order.
func TestSystAndStandIns(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file"})
	c := dialRaw(t, g.addr, true)
	c.login()
	c.send("SYST\r\nPROT C\r\nsyst extra\r\nAUTH TLS\r\nSYST")
	for _, want := range []int{215, 536, 215, 503, 215} {
		if code, msg := c.reply(); code != want {
			t.Errorf("got %q, want %d", msg, want)
		}
	}
}

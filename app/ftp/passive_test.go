package ftp_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	gw "github.com/ftps3/ftps3/app/ftp"
)

func cidr(s string) *net.IPNet {
	_, n, _ := net.ParseCIDR(s)
	return n
}

// The PASV address follows the client's network: first matching CIDR, a
// literal as is, a name resolved, else the address the client connected to.
func TestPassiveAddressPerClientNetwork(t *testing.T) {
	for _, c := range []struct {
		passive []gw.PassiveRule
		want    string
	}{
		{nil, "(127,0,0,1,"},
		{[]gw.PassiveRule{{Net: cidr("10.0.0.0/8"), Address: "10.1.1.1"}, {Net: cidr("127.0.0.0/8"), Address: "192.0.2.7"}}, "(192,0,2,7,"},
		{[]gw.PassiveRule{{Net: cidr("0.0.0.0/0"), Address: "0.0.0.0"}}, "(0,0,0,0,"},
		{[]gw.PassiveRule{{Net: cidr("127.0.0.1/32"), Address: "localhost"}}, "(127,0,0,1,"},
	} {
		g := startGateway(t, gatewayOptions{backend: "file", passive: c.passive})
		rc := dialRaw(t, g.addr, true)
		rc.login()
		if msg := rc.expect(227, "PASV"); !strings.Contains(msg, c.want) {
			t.Errorf("cidrs %v: PASV = %q, want %s", c.passive, msg, c.want)
		}
		rc.expect(229, "EPSV")
	}
}

// When every data port is taken the client gets 425 and may retry; the
// session survives.
func TestAllDataPortsBusy(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file", dataPorts: 1})
	a := dialRaw(t, g.addr, true)
	a.login()
	a.expect(229, "EPSV")
	b := dialRaw(t, g.addr, true)
	b.login()
	b.expect(425, "EPSV")
	b.expect(200, "NOOP")
	a.expect(221, "QUIT")
	b.waitEPSV(5 * time.Second) // the port is free once a's session has ended
}

// Before TLS only the commands that lead to TLS are answered: no plaintext
// login, ever.
func TestNoPlaintextLogin(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file"})
	c := dialRaw(t, g.addr, false)
	if msg := c.expect(211, "FEAT"); !strings.Contains(msg, "AUTH TLS") {
		t.Errorf("FEAT before TLS: %q", msg)
	}
	c.expect(530, "USER "+testUser)
	c.expect(530, "PASS "+testPass)
	c.expect(530, "LIST")
	c.expect(504, "AUTH KERBEROS")
	c.startTLS()
	c.login()
	c.expect(257, "PWD")
}

// Forcing one TLS mode: explicit refuses a ClientHello, implicit never sends
// a plaintext banner.
func TestForcedTLSModes(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file", tlsMode: gw.TLSExplicit})
	c := dialRaw(t, g.addr, false)
	c.startTLS()
	c.login()
	if _, err := tls.Dial("tcp", g.addr, clientTLS(0)); err == nil {
		t.Error("explicit-only port accepted implicit TLS")
	}

	g = startGateway(t, gatewayOptions{backend: "file", tlsMode: gw.TLSImplicit})
	dialRaw(t, g.addr, true).login()
	conn, err := net.Dial("tcp", g.addr)
	must(t, err)
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(time.Second))
	if n, _ := conn.Read(make([]byte, 10)); n > 0 {
		t.Error("implicit-only port sent a plaintext banner")
	}
}

// waitEPSV sends EPSV until it gets a port, for up to within.
func (c *rawClient) waitEPSV(within time.Duration) {
	c.t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(50 * time.Millisecond) {
		code, msg := c.cmd("EPSV")
		if code == 229 {
			return
		}
		if code != 425 || time.Now().After(deadline) {
			c.t.Fatalf("EPSV, the only data port should be free within %s: %s", within, msg)
		}
	}
}

// A PASV whose address cannot be found (a passive rule whose name does not
// resolve) is answered 425, saying why and no more, and holds no port: the
// only data port is free for the client's EPSV at once.
func TestPASVWithoutAnAddressHoldsNoPort(t *testing.T) {
	failing := func(context.Context) (string, error) { return "", errors.New("lookup internal.example: no such host") }
	_, all, _ := net.ParseCIDR("0.0.0.0/0")
	g := startGateway(t, gatewayOptions{backend: "file", dataPorts: 1,
		passive: []gw.PassiveRule{{Net: all, Address: "internal.example", Lookup: failing}}})
	c := dialRaw(t, g.addr, true)
	c.login()
	code, msg := c.cmd("PASV")
	if code != 425 || !strings.Contains(msg, "passive address cannot be found") || strings.Contains(msg, "internal.example") {
		t.Fatalf("PASV with no address: %q, want a 425 that names nothing internal", msg)
	}
	c.expect(229, "EPSV")
	if !strings.Contains(g.logs.String(), "internal.example") {
		t.Error("the log does not say which passive address failed")
	}
}

// A transfer whose client never connects fails with 425 at the data
// connection timeout, and its port is freed with it: the session's next
// EPSV gets the only port, and a late connection to the old port is
// refused, not left hanging.
func TestTransferWithoutItsClientFreesThePort(t *testing.T) {
	defer gw.SetDataConnectTimeout(time.Second)()
	g := startGateway(t, gatewayOptions{backend: "file", dataPorts: 1})
	c := dialRaw(t, g.addr, true)
	c.login()
	port := c.epsvPort()
	if code, msg := c.cmd("LIST"); code != 425 {
		t.Fatalf("LIST without a data connection: %q, want 425", msg)
	}
	if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		conn.Close()
		t.Fatal("the failed transfer's port still accepts connections")
	}
	c.waitEPSV(time.Second)
}

// A session that ends, or sends ABOR, while its transfer waits for the data
// connection frees the port at once, not at the data connection timeout
// (30 s): another session gets it, and the ABOR is answered right away.
func TestEndedOrAbortedWaitFreesThePort(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file", dataPorts: 1})
	other := dialRaw(t, g.addr, true)
	other.login()

	c := dialRaw(t, g.addr, true)
	c.login()
	c.expect(229, "EPSV")
	c.send("LIST")
	time.Sleep(200 * time.Millisecond) // the transfer waits for its client
	start := time.Now()
	c.send("ABOR")
	if code, msg := c.reply(); code != 425 && code != 426 {
		t.Fatalf("the waiting LIST after ABOR: %q", msg)
	}
	if code, msg := c.reply(); code/100 != 2 {
		t.Fatalf("ABOR: %q", msg)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("ABOR answered after %s", d)
	}
	other.waitEPSV(2 * time.Second)
	other.expect(221, "QUIT")

	c.waitEPSV(2 * time.Second) // once other's session has let the port go
	c.send("LIST")
	time.Sleep(200 * time.Millisecond)
	c.conn.Close() // the client goes away
	third := dialRaw(t, g.addr, true)
	third.login()
	third.waitEPSV(2 * time.Second)
}

// A client that sends PASV right behind a transfer command (before the
// transfer took its data connection) does not close the port the transfer
// is about to use: the listing arrives, then the new port.
func TestPassivePipelinedBehindATransfer(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file", dataPorts: 2})
	must(t, g.dial(t).Stor("a.txt", strings.NewReader("a")))
	c := dialRaw(t, g.addr, true)
	c.login()
	for i := range 20 {
		port := c.epsvPort()
		c.send("NLST\r\nEPSV")
		dc := c.openData(port)
		c.expect150()
		names, err := io.ReadAll(dc)
		if err != nil || !strings.Contains(string(names), "a.txt") {
			t.Fatalf("round %d: listing %q, %v", i, names, err)
		}
		c.expect226()
		if code, msg := c.reply(); code != 229 {
			t.Fatalf("round %d: the pipelined EPSV: %q", i, msg)
		}
		c.expect(200, "NOOP")
	}
}

// A transfer command that fails before it takes its port (a missing file)
// leaves the port to the session's next EPSV, even with a single data port.
func TestFailedTransferCommandLeavesItsPortFree(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file", dataPorts: 1})
	c := dialRaw(t, g.addr, true)
	c.login()
	c.expect(229, "EPSV")
	if code, msg := c.cmd("RETR missing.bin"); code/100 != 5 {
		t.Fatalf("RETR of a missing file: %q", msg)
	}
	c.expect(229, "EPSV")
}

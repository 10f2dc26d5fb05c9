package ftp_test

import (
	"crypto/tls"
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
	// The port is free once a's session has ended; b gets it then.
	for deadline := time.Now().Add(5 * time.Second); ; {
		code, msg := b.cmd("EPSV")
		if code == 229 {
			break
		}
		if code != 425 || time.Now().After(deadline) {
			t.Fatalf("EPSV after the port was freed: %s", msg)
		}
	}
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

package ftp_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	gw "github.com/ftps3/ftps3/app/ftp"
	"github.com/ftps3/ftps3/app/storage"
)

// A flood of connections from one address is capped: past the limits the
// gateway answers 421 and closes, while a client that logs in still gets in.
func TestConnectionLimits(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file", tlsMode: gw.TLSExplicit, tune: func(o *gw.Options) {
		o.MaxConnectionsPerAddress, o.MaxLoginsPendingPerAddress = 7, 4
	}})
	banner := func() string {
		c, err := net.Dial("tcp", g.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		return line
	}
	// Two users log in; then four connections that never log in fill the
	// pending logins of this address.
	a, b := dialRaw(t, g.addr, false), dialRaw(t, g.addr, false)
	for _, c := range []*rawClient{a, b} {
		c.startTLS()
		c.login()
	}
	for range 4 {
		if line := banner(); !strings.HasPrefix(line, "220 ") {
			t.Fatalf("connection under the limits: %q", line)
		}
	}
	if line := banner(); !strings.HasPrefix(line, "421 ") {
		t.Fatalf("fifth pending login from one address: %q, want 421", line)
	}
	if g.metrics.ConnsRefusedPending.Load() != 1 {
		t.Errorf("refusals counted: %d", g.metrics.ConnsRefusedPending.Load())
	}
	a.expect(221, "QUIT") // frees a place, but not a pending-login one
	if line := banner(); !strings.HasPrefix(line, "421 ") {
		t.Fatalf("still four pending logins: %q, want 421", line)
	}
	b.expect(200, "NOOP") // sessions already in are untouched
}

// A connection that does not log in in time is closed with 421.
func TestLoginTimeout(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file", tune: func(o *gw.Options) { o.LoginTimeout = 300 * time.Millisecond }})
	c := dialRaw(t, g.addr, true)
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, _ := c.r.ReadString('\n')
	if !strings.HasPrefix(line, "421 ") {
		t.Fatalf("after the login timeout: %q", line)
	}
	if _, err := c.r.ReadString('\n'); err == nil {
		t.Error("the connection stayed open")
	}
	if g.metrics.LoginTimeouts.Load() != 1 {
		t.Errorf("login timeouts counted: %d", g.metrics.LoginTimeouts.Load())
	}
	// A user who logs in is not affected.
	u := dialRaw(t, g.addr, true)
	u.login()
	time.Sleep(600 * time.Millisecond) // past the timeout: the timer must not fire on a logged-in session
	u.expect(200, "NOOP")
}

// An upload whose client goes silent ends after the data idle timeout, and
// frees its port; a port reserved and never used is closed too.
func TestDataIdleTimeout(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file", dataPorts: 1, tune: func(o *gw.Options) { o.DataIdleTimeout = 500 * time.Millisecond }})
	c := dialRaw(t, g.addr, true)
	c.login()
	dc := c.startStor("silent.bin")
	dc.Write([]byte("a little, then nothing"))
	if code, msg := c.reply(); code != 451 {
		t.Fatalf("silent upload: %q, want 451", msg)
	}
	if g.metrics.DataIdleTimeouts.Load() != 1 {
		t.Errorf("data idle timeouts counted: %d", g.metrics.DataIdleTimeouts.Load())
	}
	g.mustNotExist(t, "silent.bin")
	dc.Close()

	port := c.epsvPort() // reserved, never used: closed after the timeout
	other := dialRaw(t, g.addr, true)
	other.login()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if code, _ := other.cmd("EPSV"); code == 229 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %d still held by a reservation nobody used", port)
		}
	}
}

// A session holding the only free data port can ask for a new one.
func TestPassiveAgainOnTheLastPort(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file", dataPorts: 1})
	c := dialRaw(t, g.addr, true)
	c.login()
	c.expect(229, "EPSV")
	c.expect(227, "PASV")
	port := c.epsvPort()
	c.send("LIST")
	dc := c.openData(port)
	c.expect150()
	io.ReadAll(dc)
	c.expect226()
}

// TLS 1.2 offers forward secrecy and AEAD only: a client that knows nothing
// else than CBC suites cannot connect.
func TestTLS12OnlyAEADSuites(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file", tlsMode: gw.TLSImplicit})
	for _, suite := range []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256} {
		cfg := clientTLS(tls.VersionTLS12)
		cfg.CipherSuites = []uint16{suite}
		if c, err := tls.Dial("tcp", g.addr, cfg); err == nil {
			c.Close()
			t.Errorf("%s accepted", tls.CipherSuiteName(suite))
		}
	}
	cfg := clientTLS(tls.VersionTLS12)
	cfg.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
	c, err := tls.Dial("tcp", g.addr, cfg)
	if err != nil {
		t.Fatalf("ECDHE with AES-GCM refused: %v", err)
	}
	c.Close()
}

// In auto mode an implicit client whose ClientHello comes after the
// detection window gets the plaintext banner and fails; its address is
// remembered and gets a longer window, so its next attempt works. Once an
// explicit client is seen at that address, the window is short again: the
// explicit client would wait for its banner.
func TestLateImplicitClientGetsALongerWindow(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file"})
	late := func() error {
		raw, err := net.Dial("tcp", g.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		time.Sleep(600 * time.Millisecond) // a client slow to send its ClientHello
		tc := tls.Client(raw, clientTLS(0))
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			return err
		}
		line, err := bufio.NewReader(tc).ReadString('\n')
		if err == nil && !strings.HasPrefix(line, "220 ") {
			t.Errorf("banner over TLS: %q", line)
		}
		return err
	}
	if err := late(); err == nil {
		t.Fatal("a ClientHello after the plaintext banner worked: the test does not provoke what it should")
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(g.logs.String(), "sent its ClientHello after the plaintext banner"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the late ClientHello was not noticed")
		}
	}
	if err := late(); err != nil {
		t.Fatalf("second attempt from the same address: %v", err)
	}
	c := dialRaw(t, g.addr, false) // explicit
	c.startTLS()
	c.login()
	if err := late(); err == nil {
		t.Fatal("after an explicit client, the address still gets the long window")
	}
}

// In a burst of connections the wait for an implicit client's ClientHello
// grows (a hundred clients starting at once on a busy host are slow to
// send it): with 40 connections still silent, a ClientHello 450 ms late is
// in time, where alone it would be after the 300 ms window.
func TestBurstLengthensTheImplicitWindow(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file", tune: func(o *gw.Options) { o.MaxLoginsPendingPerAddress = 100 }})
	for range 40 {
		raw, err := net.Dial("tcp", g.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
	}
	time.Sleep(50 * time.Millisecond) // accepted, all waiting for their first byte
	raw, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	time.Sleep(450 * time.Millisecond)
	tc := tls.Client(raw, clientTLS(0))
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("a late implicit client in a burst: %v", err)
	}
	if line, err := bufio.NewReader(tc).ReadString('\n'); err != nil || !strings.HasPrefix(line, "220 ") {
		t.Fatalf("banner over TLS: %q, %v", line, err)
	}
}

// slowList makes List wait until released: a listing in progress.
type slowList struct {
	storage.Store
	started, release chan struct{}
}

func (s *slowList) List(ctx context.Context, prefix string, opts storage.ListOptions, fn func(storage.Object) error) error {
	if prefix == "big/" && !opts.Recursive && opts.Limit == 0 {
		s.started <- struct{}{}
		<-s.release
	}
	return s.Store.List(ctx, prefix, opts, fn)
}

// Listings are bounded like data ports, STAT of a directory included: with
// one port, a second listing while one runs is turned away with 450.
func TestListingsAreBounded(t *testing.T) {
	slow := &slowList{started: make(chan struct{}, 4), release: make(chan struct{})}
	g := startGateway(t, gatewayOptions{backend: "file", dataPorts: 1,
		wrapStore: func(s storage.Store) storage.Store { slow.Store = s; return slow }})
	a, b := dialRaw(t, g.addr, true), dialRaw(t, g.addr, true)
	a.login()
	b.login()
	a.expect(257, "MKD big")
	a.send("STAT big")
	<-slow.started
	if code, msg := b.cmd("STAT big"); code != 450 {
		t.Errorf("second listing while one runs: %q, want 450", msg)
	}
	close(slow.release)
	if code, msg := a.reply(); code != 212 {
		t.Errorf("first listing: %q", msg)
	}
	b.expect(212, "STAT big")
}

// Passive ports that are asked for and never used leave nothing running
// behind them.
func TestUnusedPassivePortsLeaveNoGoroutines(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file"})
	c := dialRaw(t, g.addr, true)
	c.login()
	c.expect(229, "EPSV")
	before := runtime.NumGoroutine()
	for range 200 {
		c.expect(229, "EPSV") // each new one closes the last
	}
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > before+5; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before, %d after 200 unused passive ports", before, runtime.NumGoroutine())
		}
	}
}

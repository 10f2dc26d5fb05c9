package ftp_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	gw "github.com/ftps3/ftps3/app/ftp"
)

// openData connects a data connection to port as a real client does: with
// the control connection's TLS config, so it resumes the control session.
func (c *rawClient) openData(port int) *tls.Conn {
	c.t.Helper()
	raw, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		c.t.Fatal(err)
	}
	return tls.Client(raw, c.tls)
}

// stranger connects to a data port from addr (127.0.0.1: the same NAT as
// the victim) with a TLS config of its own, tries to read and write, and
// reports what it got.
func stranger(t *testing.T, port int, cfg *tls.Config, local net.IP) (got []byte, handshakeErr error) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: local}, Timeout: 5 * time.Second}
	raw, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Skipf("cannot connect from %s here: %v", local, err)
	}
	defer raw.Close()
	tc := tls.Client(raw, cfg)
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	tc.Write([]byte("junk from a stranger"))
	got, _ = io.ReadAll(tc)
	return got, nil
}

// Someone behind the same NAT connects to the announced port before the
// victim: with no login, or with a login and TLS session of their own. They
// get nothing, replace nothing, and the victim's transfer goes through, over
// TLS 1.2 and 1.3.
func TestDataPortStrangersGetNothing(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			g := startGateway(t, gatewayOptions{backend: "file"})
			secret := randomData(300 << 10)
			must(t, g.dial(t).Stor("secret.bin", bytes.NewReader(secret)))
			victim := dialRawTLS(t, g.addr, true, v)
			victim.login()
			other := dialRawTLS(t, g.addr, true, v) // a user with a session of their own
			other.login()

			// Download: the strangers come first.
			port := victim.epsvPort()
			victim.send("RETR secret.bin")
			for name, cfg := range map[string]*tls.Config{"no login": clientTLS(v), "another session": other.tls} {
				if got, err := stranger(t, port, cfg, net.IPv4(127, 0, 0, 1)); err == nil || len(got) > 0 {
					t.Errorf("%s: handshake err %v, got %d bytes of the victim's download", name, err, len(got))
				}
			}
			if code, msg := victim.reply(); code != 150 {
				t.Fatalf("RETR: %s", msg)
			}
			dc := victim.openData(port)
			got, err := io.ReadAll(dc)
			if err != nil || !bytes.Equal(got, secret) {
				t.Fatalf("victim's download: %d bytes, %v", len(got), err)
			}
			if code, msg := victim.reply(); code != 226 {
				t.Fatalf("RETR: %s", msg)
			}

			// Upload: a stranger's bytes must not become the victim's file.
			port = victim.epsvPort()
			victim.send("STOR upload.bin")
			if _, err := stranger(t, port, clientTLS(v), net.IPv4(127, 0, 0, 1)); err == nil {
				t.Error("a stranger's TLS handshake on the victim's upload port succeeded")
			}
			if code, msg := victim.reply(); code != 150 {
				t.Fatalf("STOR: %s", msg)
			}
			data := randomData(200 << 10)
			dc = victim.openData(port)
			dc.Write(data)
			dc.Close()
			if code, msg := victim.reply(); code != 226 {
				t.Fatalf("STOR: %s", msg)
			}
			if stored, err := g.object("upload.bin"); err != nil || !bytes.Equal(stored, data) {
				t.Fatalf("stored %d bytes (%v), want the victim's %d", len(stored), err, len(data))
			}
			if n := g.metrics.DataConnsRefused.Load(); n < 3 {
				t.Errorf("ftps3_data_connections_refused_total = %d after 3 strangers", n)
			}
		})
	}
}

// A connection from another address is refused without ending the pending
// transfer: the session's own client connects after it and is served.
func TestDataPortStrangerFromAnotherAddress(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file"})
	c := dialRaw(t, g.addr, true)
	c.login()
	port := c.epsvPort()
	c.send("LIST")
	if _, err := stranger(t, port, clientTLS(0), net.IPv4(127, 0, 0, 2)); err == nil {
		t.Error("a connection from another address completed its handshake")
	}
	dc := c.openData(port) // clients connect before the 150
	if code, msg := c.reply(); code != 150 {
		t.Fatalf("LIST: %s", msg)
	}
	io.ReadAll(dc)
	if code, msg := c.reply(); code != 226 {
		t.Fatalf("LIST after the stranger: %s", msg)
	}
}

// With FTP_TLS_SESSION_REUSE=optional, a client that never resumes is served.
func TestSessionReuseOptional(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file", reuse: gw.ReuseOptional})
	c := dialRaw(t, g.addr, true)
	c.login()
	port := c.epsvPort()
	c.send("STOR fresh.bin")
	raw, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	must(t, err)
	if code, msg := c.reply(); code != 150 {
		t.Fatalf("STOR: %s", msg)
	}
	dc := tls.Client(raw, clientTLS(0)) // a fresh session
	dc.Write([]byte("no reuse"))
	dc.Close()
	if code, msg := c.reply(); code != 226 {
		t.Fatalf("STOR without reuse, optional: %s", msg)
	}

	// And required refuses the same client, saying why.
	g = startGateway(t, gatewayOptions{backend: "file"})
	c = dialRaw(t, g.addr, true)
	c.login()
	port = c.epsvPort()
	c.send("STOR fresh.bin")
	raw, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	must(t, err)
	c.reply() // 150
	dc = tls.Client(raw, clientTLS(0))
	if err := dc.Handshake(); err == nil {
		t.Error("a fresh TLS session was accepted on a data connection")
	}
	code, msg := c.reply()
	if code < 400 || !strings.Contains(msg, "resume") {
		t.Fatalf("required reuse, fresh session: %q", msg)
	}
	g.mustNotExist(t, "fresh.bin")
}

// A ClientHello recorded from the session's own data connection and sent
// again (by someone behind the same NAT) proves nothing: the binder counts
// once.
func TestReplayedClientHelloRefused(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file"})
	c := dialRawTLS(t, g.addr, true, tls.VersionTLS13)
	c.login()
	// The client's first data connection, recorded as it crosses the wire.
	port := c.epsvPort()
	c.send("NLST")
	raw, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	must(t, err)
	rec := &recordingConn{Conn: raw}
	dc := tls.Client(rec, c.tls)
	c.expect150()
	io.ReadAll(dc)
	c.expect226()
	hello := rec.sent()

	port = c.epsvPort()
	c.send("NLST")
	replay, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	must(t, err)
	defer replay.Close()
	replay.Write(hello)
	replay.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _ := replay.Read(make([]byte, 1)); n > 0 {
		t.Fatal("a replayed ClientHello got an answer")
	}
	dc = c.openData(port) // the real client is still served
	c.expect150()
	io.ReadAll(dc)
	c.expect226()
}

// recordingConn keeps what the client sent first (its ClientHello).
type recordingConn struct {
	net.Conn
	mu  sync.Mutex
	buf []byte
}

func (r *recordingConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	if r.buf == nil {
		r.buf = append([]byte(nil), p...)
	}
	r.mu.Unlock()
	return r.Conn.Write(p)
}

func (r *recordingConn) sent() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf
}

// Connections that sit silent on a passive port (waiting to be checked)
// are all closed when the port closes unused: a client cannot pile them up
// by asking for port after port.
func TestSilentDataConnectionsClosedWithTheirPort(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file"})
	c := dialRaw(t, g.addr, true)
	c.login()
	port := c.epsvPort()
	var silent []net.Conn
	for range 3 {
		raw, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		silent = append(silent, raw)
	}
	time.Sleep(100 * time.Millisecond) // accepted, being checked
	c.epsvPort()                       // the first port closes unused
	for i, raw := range silent {
		raw.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := raw.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("silent connection %d still open after its port closed (%v)", i, err)
		}
	}
}

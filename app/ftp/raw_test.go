package ftp_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawClient speaks the FTP text protocol line by line, for what real clients
// never send.
type rawClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	tls  *tls.Config // with its session cache: data connections resume the control session
}

func dialRaw(t *testing.T, addr string, implicit bool) *rawClient {
	t.Helper()
	return dialRawTLS(t, addr, implicit, 0)
}

// dialRawTLS connects with TLS versions up to maxVersion (0: the newest).
func dialRawTLS(t *testing.T, addr string, implicit bool, maxVersion uint16) *rawClient {
	t.Helper()
	var conn net.Conn
	var err error
	cfg := clientTLS(maxVersion)
	if implicit {
		conn, err = tls.Dial("tcp", addr, cfg)
	} else {
		conn, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	c := &rawClient{t: t, conn: conn, r: bufio.NewReader(conn), tls: cfg}
	t.Cleanup(func() { c.conn.Close() })
	if code, msg := c.reply(); code != 220 {
		t.Fatalf("banner: %d %s", code, msg)
	}
	return c
}

// startTLS performs AUTH TLS on a plaintext connection.
func (c *rawClient) startTLS() {
	c.expect(234, "AUTH TLS")
	tc := tls.Client(c.conn, c.tls)
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
}

func (c *rawClient) send(line string) {
	c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c.conn, "%s\r\n", line); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

// reply reads one (possibly multi-line) reply.
func (c *rawClient) reply() (int, string) {
	c.t.Helper()
	c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	var msg []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading reply: %v (so far %q)", err, msg)
		}
		line = strings.TrimRight(line, "\r\n")
		msg = append(msg, line)
		if len(line) >= 4 && line[3] == ' ' {
			if code, err := strconv.Atoi(line[:3]); err == nil && (len(msg) == 1 || strings.HasPrefix(msg[0], line[:3])) {
				return code, strings.Join(msg, "\n")
			}
		}
	}
}

func (c *rawClient) cmd(line string) (int, string) {
	c.t.Helper()
	c.send(line)
	return c.reply()
}

func (c *rawClient) expect(code int, line string) string {
	c.t.Helper()
	got, msg := c.cmd(line)
	if got != code {
		c.t.Fatalf("%s: got %q, want code %d", line, msg, code)
	}
	return msg
}

func (c *rawClient) login() {
	c.t.Helper()
	c.expect(331, "USER "+testUser)
	c.expect(230, "PASS "+testPass)
}

// openData sends EPSV and connects the TLS data connection (after the
// transfer command is sent, as clients do).
func (c *rawClient) epsvPort() int {
	c.t.Helper()
	msg := c.expect(229, "EPSV")
	i, j := strings.Index(msg, "(|||"), strings.LastIndex(msg, "|)")
	port, err := strconv.Atoi(msg[i+4 : j])
	if err != nil {
		c.t.Fatalf("EPSV reply %q", msg)
	}
	return port
}

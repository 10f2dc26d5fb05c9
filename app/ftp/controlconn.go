package ftp

import (
	"bytes"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
)

// maxCommandLine is below ftpserverlib's 4096-byte buffer: the library drops
// the client on a longer line, we answer 500 and go on.
const maxCommandLine = 4000

// lineTooLong replaces an overlong command line; the library answers it with
// 500 Unknown command, and the session goes on.
const lineTooLong = "COMMAND-LINE-TOO-LONG"

// controlConn wraps an established control connection. It fixes, at the
// protocol's edge, what ftpserverlib does not do the way FTPS clients need:
//   - a command line over maxCommandLine bytes is replaced (500, session kept);
//   - in explicit TLS the library's own 220 banner is dropped (the listener
//     already sent one before AUTH TLS);
//   - the passive port of each PASV/EPSV reply is noted, which ties the data
//     connection to this session (see dataconn.go);
//   - "421 Could not listen for passive connection" becomes 425, which asks
//     the client to retry instead of closing the session;
//   - a transfer that failed midway gets 451 (try again), not 550;
//   - PROT C is refused with 536: data connections are always TLS;
//   - after a failed login the library closes the connection; keepOpenOnce
//     lets the session go on so the user can try again.
type controlConn struct {
	net.Conn

	readMu     sync.Mutex
	raw        [4096]byte
	line       []byte
	ready      []byte
	discarding bool
	protClear  atomic.Bool

	writeMu       sync.Mutex
	swallowBanner bool

	passivePort atomic.Int32
	keepOpen    atomic.Bool
	closeOnce   sync.Once
}

func newControlConn(c net.Conn, swallowBanner bool) *controlConn {
	return &controlConn{Conn: c, swallowBanner: swallowBanner}
}

// Read hands the library whole lines only, each at most maxCommandLine bytes.
func (c *controlConn) Read(p []byte) (int, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	for len(c.ready) == 0 {
		n, err := c.Conn.Read(c.raw[:])
		c.feed(c.raw[:n])
		if len(c.ready) > 0 {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	n := copy(p, c.ready)
	c.ready = c.ready[n:]
	return n, nil
}

func (c *controlConn) feed(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		chunk := b
		if i >= 0 {
			chunk = b[:i+1]
		}
		b = b[len(chunk):]
		if !c.discarding {
			c.line = append(c.line, chunk...)
		}
		if len(c.line) > maxCommandLine+2 {
			c.discarding, c.line = true, c.line[:0]
		}
		if i < 0 {
			continue
		}
		if c.discarding {
			c.ready = append(c.ready, lineTooLong+"\r\n"...)
			c.discarding = false
			continue
		}
		c.noteCommand(c.line)
		c.ready = append(c.ready, c.line...)
		c.line = c.line[:0]
	}
}

func (c *controlConn) noteCommand(line []byte) {
	f := bytes.Fields(line)
	if len(f) >= 1 && bytes.EqualFold(f[0], []byte("PROT")) {
		c.protClear.Store(len(f) < 2 || !bytes.EqualFold(f[1], []byte("P")))
	}
}

// Write passes the library's replies on, with the fixes listed above. The
// library writes one reply line per call.
func (c *controlConn) Write(p []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	n := len(p)
	if c.swallowBanner {
		if i := bytes.Index(p, []byte("\r\n")); i >= 0 {
			c.swallowBanner = false
			p = p[i+2:]
			if len(p) == 0 {
				return n, nil
			}
		} else {
			return n, nil
		}
	}
	switch {
	case bytes.HasPrefix(p, []byte("227 ")), bytes.HasPrefix(p, []byte("229 ")):
		if port := passivePortOf(p); port > 0 {
			c.passivePort.Store(int32(port))
		}
	case bytes.HasPrefix(p, []byte("421 Could not listen for passive connection")):
		p = []byte("425 No data port is free right now: try again in a moment\r\n")
	case bytes.HasPrefix(p, []byte("550 Issue during transfer")):
		// A transfer that failed midway is worth retrying: 451, not 550.
		p = append([]byte("451"), p[3:]...)
	case bytes.HasPrefix(p, []byte("200 ")) && c.protClear.Swap(false):
		p = []byte("536 Only PROT P is supported: data connections are always encrypted\r\n")
	}
	if _, err := c.Conn.Write(p); err != nil {
		return 0, err
	}
	return n, nil
}

// passivePortOf reads the port of "227 ... (h1,h2,h3,h4,p1,p2)" or
// "229 ... (|||port|)".
func passivePortOf(reply []byte) int {
	open, end := bytes.IndexByte(reply, '('), bytes.IndexByte(reply, ')')
	if open < 0 || end < open {
		return 0
	}
	inner := string(reply[open+1 : end])
	if reply[2] == '9' {
		parts := bytes.Split([]byte(inner), []byte("|"))
		if len(parts) != 5 {
			return 0
		}
		port, _ := strconv.Atoi(string(parts[3]))
		return port
	}
	parts := bytes.Split([]byte(inner), []byte(","))
	if len(parts) != 6 {
		return 0
	}
	hi, _ := strconv.Atoi(string(parts[4]))
	lo, _ := strconv.Atoi(string(parts[5]))
	return hi*256 + lo
}

// keepOpenOnce makes the next Close a no-op (see the type's comment).
func (c *controlConn) keepOpenOnce() { c.keepOpen.Store(true) }

// Close closes the connection unless keepOpenOnce asked otherwise.
func (c *controlConn) Close() error {
	if c.keepOpen.Swap(false) {
		return nil
	}
	return c.closeForReal()
}

func (c *controlConn) closeForReal() error {
	var err error
	c.closeOnce.Do(func() { err = c.Conn.Close() })
	return err
}

package ftp

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// Telling a complete upload from a cut one.
//
// An FTP upload ends when the client closes the data connection, so a client
// killed mid-upload looks like a finished one, unless TLS says otherwise: a
// client that is done sends a TLS close_notify alert before closing. Go's
// crypto/tls returns the same io.EOF for a close_notify and for a bare TCP FIN
// at a record boundary, so the check looks below TLS: dataConn wraps the raw
// TCP connection and notes whether the TCP stream itself reached its end.
// After a close_notify, crypto/tls stops reading, so the raw EOF is never
// seen; after a bare FIN it is.
//
// The session finds its data connection through the passive port: the
// control connection notes the port of each PASV/EPSV reply, and each port is
// listened on by one session at a time.

// dataConns indexes the open data connections by local port.
type dataConns struct {
	mu     sync.Mutex
	byPort map[int]*dataConn
}

func newDataConns() *dataConns { return &dataConns{byPort: map[int]*dataConn{}} }

func (d *dataConns) get(port int) *dataConn {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.byPort[port]
}

// wrap is ftpserverlib's passive listener hook: it runs before the library
// puts TLS on the listener.
func (d *dataConns) wrap(l net.Listener) net.Listener {
	return &dataListener{Listener: l, conns: d}
}

type dataListener struct {
	net.Listener
	conns *dataConns
}

func (l *dataListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	port := 0
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok {
		port = a.Port
	}
	dc := &dataConn{Conn: c, port: port, conns: l.conns}
	l.conns.mu.Lock()
	l.conns.byPort[port] = dc
	l.conns.mu.Unlock()
	return dc, nil
}

type dataConn struct {
	net.Conn
	port   int
	conns  *dataConns
	rawEOF atomic.Bool
}

func (c *dataConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if errors.Is(err, io.EOF) {
		c.rawEOF.Store(true)
	}
	return n, err
}

// endedWithoutCloseNotify reports whether the client closed TCP without
// first closing TLS.
func (c *dataConn) endedWithoutCloseNotify() bool { return c.rawEOF.Load() }

func (c *dataConn) Close() error {
	c.conns.mu.Lock()
	if c.conns.byPort[c.port] == c {
		delete(c.conns.byPort, c.port)
	}
	c.conns.mu.Unlock()
	return c.Conn.Close()
}

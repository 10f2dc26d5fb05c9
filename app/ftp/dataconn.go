package ftp

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
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
	dc.r = bufio.NewReaderSize(rawReader{dc}, dataReadAhead)
	l.conns.mu.Lock()
	l.conns.byPort[port] = dc
	l.conns.mu.Unlock()
	return dc, nil
}

// dataReadAhead: the raw connection is read in large chunks, so that TLS
// records (16 KiB at most) come from memory instead of one system call each.
const dataReadAhead = 128 << 10

// dataWriteBatch: TLS application-data records written to a data connection
// are gathered up to this size and sent in one system call, instead of one
// per 16 KiB record (or one per line of a listing).
const dataWriteBatch = 256 << 10

const tlsRecordAppData = 23

type dataConn struct {
	net.Conn
	r      *bufio.Reader
	port   int
	conns  *dataConns
	rawEOF atomic.Bool

	wmu  sync.Mutex
	wbuf []byte
}

// Write sends handshake records and alerts at once (the peer waits for
// them) and batches application data; Flush and Close send the batch. FTP
// data flows one way, so no record waits for an answer while batched.
func (c *dataConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(p) == 0 || p[0] != tlsRecordAppData {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		return c.Conn.Write(p)
	}
	if len(c.wbuf)+len(p) > dataWriteBatch {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	if len(p) >= dataWriteBatch {
		return c.Conn.Write(p)
	}
	if c.wbuf == nil {
		c.wbuf = make([]byte, 0, dataWriteBatch)
	}
	c.wbuf = append(c.wbuf, p...)
	return len(p), nil
}

// SetWriteDeadline and SetDeadline send the batch first: crypto/tls
// writes its close_notify (an application-data record in TLS 1.3) and then
// sets the write deadline to now, after which nothing could be sent.
func (c *dataConn) SetWriteDeadline(t time.Time) error {
	_ = c.Flush()
	return c.Conn.SetWriteDeadline(t)
}

func (c *dataConn) SetDeadline(t time.Time) error {
	_ = c.Flush()
	return c.Conn.SetDeadline(t)
}

// Flush sends the batched records.
func (c *dataConn) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.flushLocked()
}

func (c *dataConn) flushLocked() error {
	if len(c.wbuf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.wbuf)
	c.wbuf = c.wbuf[:0]
	return err
}

func (c *dataConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// rawReader reads the TCP connection itself and notes its end.
type rawReader struct{ c *dataConn }

func (r rawReader) Read(p []byte) (int, error) {
	n, err := r.c.Conn.Read(p)
	if errors.Is(err, io.EOF) {
		r.c.rawEOF.Store(true)
	}
	return n, err
}

// endedWithoutCloseNotify reports whether the client closed TCP without
// first closing TLS.
func (c *dataConn) endedWithoutCloseNotify() bool { return c.rawEOF.Load() }

func (c *dataConn) Close() error {
	_ = c.Flush()
	c.conns.mu.Lock()
	if c.conns.byPort[c.port] == c {
		delete(c.conns.byPort, c.port)
	}
	c.conns.mu.Unlock()
	return c.Conn.Close()
}

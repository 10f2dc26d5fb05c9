package ftp

import (
	"bufio"
	"crypto/tls"
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
// A transfer handle finds its data connection in the connection ftpserverlib
// hands it (io.Copy passes the *tls.Conn to the handle's ReadFrom or
// WriteTo): see dataConnOf.

// dataListener is what WrapPassiveListener puts under the library's TLS
// listener: each accepted connection becomes a dataConn.
type dataListener struct {
	net.Listener
}

func (l *dataListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	dc := &dataConn{Conn: c}
	dc.r = bufio.NewReaderSize(rawReader{dc}, dataReadAhead)
	return dc, nil
}

// dataConnOf finds the dataConn under the connection a transfer was handed,
// or nil (a connection the library wrapped in something else, such as
// MODE Z, which is not offered).
func dataConnOf(x any) *dataConn {
	if tc, ok := x.(*tls.Conn); ok {
		x = tc.NetConn()
	}
	dc, _ := x.(*dataConn)
	return dc
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
	return c.Conn.Close()
}

package sftp

import (
	"bufio"
	"net"
	"time"
)

// transportConn is the TCP connection as the SSH transport reads it: in
// large chunks, so that an upload's 32 KiB packets come from memory rather
// than two or three system calls each (the transport's own buffer is 4 KiB,
// and it reads a packet's body straight from the socket); and closed once
// nothing arrived for idle (0: never).
type transportConn struct {
	net.Conn
	r *bufio.Reader
}

// transportReadAhead is the read buffer of each SSH connection.
const transportReadAhead = 128 << 10

func newTransportConn(c net.Conn, idle time.Duration) *transportConn {
	return &transportConn{Conn: c, r: bufio.NewReaderSize(idleReader{c, idle}, transportReadAhead)}
}

func (c *transportConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// idleReader reads c with a deadline of idle from each read (if idle > 0).
type idleReader struct {
	c    net.Conn
	idle time.Duration
}

func (r idleReader) Read(p []byte) (int, error) {
	if r.idle > 0 {
		r.c.SetReadDeadline(time.Now().Add(r.idle))
	}
	return r.c.Read(p)
}

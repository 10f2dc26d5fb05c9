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
//
// The large buffer is made at the first read larger than the transport's
// own buffer, the first large packet: a connection that has not logged in
// (its packets are small) costs no more than before.
type transportConn struct {
	net.Conn
	in idleReader
	r  *bufio.Reader // nil until the first large read
}

// transportReadAhead is the read buffer of each SSH connection.
const transportReadAhead = 128 << 10

// smallRead is the transport's own buffer: reads up to it are its refills.
const smallRead = 4096

func newTransportConn(c net.Conn, idle time.Duration) *transportConn {
	return &transportConn{Conn: c, in: idleReader{c, idle}}
}

func (c *transportConn) Read(p []byte) (int, error) {
	if c.r == nil {
		if len(p) <= smallRead {
			return c.in.Read(p)
		}
		c.r = bufio.NewReaderSize(c.in, transportReadAhead)
	}
	return c.r.Read(p)
}

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

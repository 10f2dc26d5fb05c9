package ftp

import (
	"bytes"
	"net"
	"testing"
	"time"
)

type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }
func (discardConn) SetDeadline(time.Time) error      { return nil }
func (discardConn) Close() error                     { return nil }

// A download: 16 KiB TLS application-data records batched into large writes.
func BenchmarkDataConnWriteRecords(b *testing.B) {
	d := boundDataConn(discardConn{})
	rec := append([]byte{tlsRecordAppData}, make([]byte, 16<<10+28)...)
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		d.Write(rec)
	}
}

// The command channel: lines assembled and checked for length.
func BenchmarkControlConnFeed(b *testing.B) {
	c := &controlConn{}
	lines := bytes.Repeat([]byte("RETR some/path/to/a file.bin\r\n"), 100)
	b.SetBytes(int64(len(lines)))
	for b.Loop() {
		c.feed(lines)
		c.ready = c.ready[:0]
	}
}

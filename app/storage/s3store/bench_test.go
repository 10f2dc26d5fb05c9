package s3store

import (
	"bytes"
	"hash/crc32"
	"io"
	"net"
	"testing"
)

// The checksum every part carries.
func BenchmarkCRC32CPart(b *testing.B) {
	part := make([]byte, 6<<20)
	b.SetBytes(int64(len(part)))
	for b.Loop() {
		crcString(crc32.Checksum(part, castagnoli))
	}
}

type nullConn struct {
	net.Conn
	writes int
}

func (n *nullConn) Write(p []byte) (int, error) { n.writes++; return len(p), nil }

// Sending a part: straight from its buffer to the connection, in one write
// (the copy loop net/http would use makes 192 writes of 32 KiB).
func BenchmarkBigWriteConnPart(b *testing.B) {
	part := make([]byte, 6<<20)
	nc := &nullConn{}
	c := bigWriteConn{nc}
	b.SetBytes(int64(len(part)))
	for b.Loop() {
		if _, err := c.ReadFrom(&io.LimitedReader{R: bytes.NewReader(part), N: int64(len(part))}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(nc.writes)/float64(b.N), "writes/part")
}

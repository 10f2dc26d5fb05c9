package ftp

import (
	"bytes"
	"net"
	"testing"
	"time"
)

type recConn struct {
	net.Conn
	writes [][]byte
	closed bool
}

func (r *recConn) Write(p []byte) (int, error) {
	r.writes = append(r.writes, append([]byte(nil), p...))
	return len(p), nil
}
func (r *recConn) SetWriteDeadline(time.Time) error { return nil }
func (r *recConn) SetDeadline(time.Time) error      { return nil }
func (r *recConn) Close() error                     { r.closed = true; return nil }

func record(typ byte, n int) []byte { return append([]byte{typ}, bytes.Repeat([]byte{'x'}, n-1)...) }

func TestDataConnBatchesApplicationData(t *testing.T) {
	rc := &recConn{}
	d := boundDataConn(rc)
	d.Write(record(22, 100)) // handshake: sent at once
	if len(rc.writes) != 1 {
		t.Fatal("handshake record was held back")
	}
	for i := 0; i < 10; i++ {
		d.Write(record(23, 1000))
	}
	if len(rc.writes) != 1 {
		t.Fatalf("application data not batched: %d writes", len(rc.writes))
	}
	d.SetWriteDeadline(time.Now()) // what crypto/tls does after close_notify
	if len(rc.writes) != 2 || len(rc.writes[1]) != 10000 {
		t.Fatalf("batch not flushed before the deadline: %d writes", len(rc.writes))
	}
	d.Write(record(23, 500))
	d.Write(record(21, 7)) // an alert flushes the batch first, then goes out
	if len(rc.writes) != 4 || rc.writes[3][0] != 21 {
		t.Fatalf("order after alert: %d writes", len(rc.writes))
	}
	for i := 0; i < 300; i++ { // more than one batch
		d.Write(record(23, 1000))
	}
	d.Write(record(23, 17))
	d.Close()
	var total int
	for _, w := range rc.writes[4:] {
		total += len(w)
		if len(w) > dataWriteBatch {
			t.Errorf("write of %d bytes exceeds the batch size", len(w))
		}
	}
	if total != 300*1000+17 || !rc.closed {
		t.Fatalf("sent %d bytes, closed %v", total, rc.closed)
	}
}

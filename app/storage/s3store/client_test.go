package s3store

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
)

type recordConn struct {
	net.Conn
	buf    bytes.Buffer
	writes int
}

func (r *recordConn) Write(p []byte) (int, error) { r.writes++; return r.buf.Write(p) }

func TestBigWriteConnSendsTheBodyInOneWriteAndNeverPastTheLimit(t *testing.T) {
	rc := &recordConn{}
	c := bigWriteConn{rc}
	body := bytes.Repeat([]byte("x"), 1<<20)
	n, err := c.ReadFrom(&io.LimitedReader{R: bytes.NewReader(body), N: int64(len(body))})
	if err != nil || n != int64(len(body)) || rc.writes != 1 || !bytes.Equal(rc.buf.Bytes(), body) {
		t.Fatalf("n=%d err=%v writes=%d", n, err, rc.writes)
	}
	rc = &recordConn{}
	c = bigWriteConn{rc}
	n, err = c.ReadFrom(&io.LimitedReader{R: bytes.NewReader(body), N: 100})
	if !errors.Is(err, errBodyTooLong) || n != 100 || rc.buf.Len() != 100 {
		t.Fatalf("over-long body: n=%d err=%v sent=%d", n, err, rc.buf.Len())
	}
	rc = &recordConn{}
	c = bigWriteConn{rc}
	n, err = c.ReadFrom(io.LimitReader(struct{ io.Reader }{bytes.NewReader(body)}, int64(len(body))))
	if err != nil || n != int64(len(body)) || rc.writes != 4 {
		t.Fatalf("plain reader: n=%d err=%v writes=%d (want 256 KiB writes)", n, err, rc.writes)
	}
}

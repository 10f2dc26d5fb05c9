package ftp_test

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ftps3/ftps3/app/storage/s3store"
)

// The per-file path, PASV to 226, with a Go client that resumes its TLS
// session on every data connection (the gateway requires it), against MinIO
// and against a local directory (the gateway's own cost): STOR of a new file
// into a directory, and RETR.
func BenchmarkSmallFiles(b *testing.B) {
	for _, backend := range []string{"s3", "file"} {
		for _, size := range []int{16 << 10, 1 << 20} {
			name := fmt.Sprintf("%s/%dKiB", backend, size>>10)
			b.Run(name+"/STOR", func(b *testing.B) { benchTransfer(b, backend, size, false) })
			b.Run(name+"/RETR", func(b *testing.B) { benchTransfer(b, backend, size, true) })
		}
	}
}

func benchTransfer(b *testing.B, backend string, size int, retr bool) {
	g := startGateway(b, gatewayOptions{backend: backend})
	c, err := ftp.Dial(g.addr, ftp.DialWithTLS(clientTLS(0)), ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login(testUser, testPass); err != nil {
		b.Fatal(err)
	}
	if err := c.MakeDir("in"); err != nil {
		b.Fatal(err)
	}
	data := randomData(size)
	if retr {
		if err := c.Stor("in/f", bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
	var before int64
	if g.s3 != nil {
		before = s3Requests(g.s3)
	}
	b.SetBytes(int64(size))
	i := 0
	for b.Loop() {
		if retr {
			r, err := c.Retr("in/f")
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, r)
			if cerr := r.Close(); err == nil {
				err = cerr
			}
			if err != nil || n != int64(size) {
				b.Fatalf("RETR: %d bytes, %v", n, err)
			}
		} else if err := c.Stor(fmt.Sprintf("in/f%06d", i), bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "files/s")
	if g.s3 != nil {
		b.ReportMetric(float64(s3Requests(g.s3)-before)/float64(b.N), "S3-requests/file")
	}
}

func s3Requests(s *s3store.Store) (n int64) {
	for _, rc := range s.Requests() {
		n += rc.Requests
	}
	return n
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"log"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

const mib = 1 << 20

// singleFile: upload A (curl → gateway → S3) vs B (SDK → S3), then download
// A (gateway from S3) vs B (gateway from a local directory), plus a direct
// SDK GET, alternating, with the gateway's CPU time and peak RSS.
func (b *bench) singleFile(size int64, rounds int) {
	log.Printf("single file: %d MiB × %d rounds", size>>20, rounds)
	path, sum := b.randomFile("big.bin", size)
	var upGW, upSDK, cpuUp []float64
	b.gwS3.resetPeakRSS()
	for r := 0; r < rounds; r++ {
		key := fmt.Sprintf("up-gw-%d.bin", r)
		cpu0, t0 := b.gwS3.cpuSeconds(), time.Now()
		check(b.curl(b.portS3, "-T", path, url(b.portS3, key)))
		d := time.Since(t0).Seconds()
		cpuUp = append(cpuUp, (b.gwS3.cpuSeconds()-cpu0)/(float64(size)/(1<<30)))
		upGW = append(upGW, float64(size)/mib/d)
		b.verify(key, sum)

		key = fmt.Sprintf("up-sdk-%d.bin", r)
		t0 = time.Now()
		check(b.directUpload(path, key))
		upSDK = append(upSDK, float64(size)/mib/time.Since(t0).Seconds())
		b.verify(key, sum)
		b.deleteKeys(fmt.Sprintf("up-sdk-%d.bin", r))
		if r > 0 {
			b.deleteKeys(key, fmt.Sprintf("up-gw-%d.bin", r))
		}
	}
	rssUp := b.gwS3.peakRSS()

	// The same file in the local-directory gateway's root.
	check(os.MkdirAll(b.fileRoot, 0o755))
	check(os.Link(path, b.fileRoot+"/big.bin"))
	var dlS3, dlFile, dlSDK, cpuDown []float64
	b.gwS3.resetPeakRSS()
	for r := 0; r < rounds; r++ {
		cpu0, t0 := b.gwS3.cpuSeconds(), time.Now()
		check(b.curl(b.portS3, "-o", "/dev/null", url(b.portS3, "up-gw-0.bin")))
		dlS3 = append(dlS3, float64(size)/mib/time.Since(t0).Seconds())
		cpuDown = append(cpuDown, (b.gwS3.cpuSeconds()-cpu0)/(float64(size)/(1<<30)))

		t0 = time.Now()
		check(b.curl(b.portFS, "-o", "/dev/null", url(b.portFS, "big.bin")))
		dlFile = append(dlFile, float64(size)/mib/time.Since(t0).Seconds())

		t0 = time.Now()
		check(b.directDownload("up-gw-0.bin"))
		dlSDK = append(dlSDK, float64(size)/mib/time.Since(t0).Seconds())
	}
	rssDown := b.gwS3.peakRSS()
	b.deleteKeys("up-gw-0.bin")
	os.Remove(path)

	mu, ms := median(upGW), median(upSDK)
	b.row(fmt.Sprintf("upload %d MiB: curl → gateway → S3", size>>20), fmt.Sprintf("%.0f MiB/s", mu), "")
	b.row(fmt.Sprintf("upload %d MiB: SDK → S3 direct", size>>20), fmt.Sprintf("%.0f MiB/s", ms), "")
	b.row("upload ratio gateway/direct", fmt.Sprintf("%.2f", mu/ms), "≥ 0.90")
	d3, df, dd := median(dlS3), median(dlFile), median(dlSDK)
	b.row(fmt.Sprintf("download %d MiB: gateway from S3", size>>20), fmt.Sprintf("%.0f MiB/s", d3), "")
	b.row(fmt.Sprintf("download %d MiB: gateway from local directory", size>>20), fmt.Sprintf("%.0f MiB/s", df), "")
	b.row(fmt.Sprintf("download %d MiB: SDK GET direct (reference)", size>>20), fmt.Sprintf("%.0f MiB/s", dd), "")
	b.row("download ratio S3/local directory", fmt.Sprintf("%.2f", d3/df), "≥ 0.90")
	b.row("gateway CPU per GiB uploaded", fmt.Sprintf("%.2f s", median(cpuUp)), "≤ 1.0 s")
	b.row("gateway CPU per GiB downloaded", fmt.Sprintf("%.2f s", median(cpuDown)), "≤ 1.0 s")
	b.row("gateway peak RSS, single upload / download", fmt.Sprintf("%.0f / %.0f MiB", rssUp, rssDown), "≤ 76 MiB")
	b.results["single_file"] = map[string]any{
		"size_mib": size >> 20, "rounds": rounds,
		"upload_gateway_mibps": upGW, "upload_direct_mibps": upSDK, "upload_ratio": mu / ms,
		"download_gateway_s3_mibps": dlS3, "download_gateway_file_mibps": dlFile, "download_direct_mibps": dlSDK,
		"download_ratio": d3 / df, "cpu_s_per_gib_up": cpuUp, "cpu_s_per_gib_down": cpuDown,
		"peak_rss_mib_up": rssUp, "peak_rss_mib_down": rssDown,
	}
}

func (b *bench) verify(key, sum string) {
	if got := b.objectSHA256(key); got != sum {
		log.Fatalf("object %s: sha256 %s, want %s", key, got, sum)
	}
}

func (b *bench) deleteKeys(keys ...string) {
	for _, k := range keys {
		b.s3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
	}
}

// directUpload is the baseline a good SDK client gets: 8 MiB parts, four in
// flight, CRC32C checksums, no payload SHA-256.
func (b *bench) directUpload(path, key string) error {
	ctx := context.Background()
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, _ := f.Stat()
	create, err := b.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: &key, ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
	if err != nil {
		return err
	}
	const part = 8 * mib
	n := int((st.Size() + part - 1) / part)
	parts := make([]types.CompletedPart, n)
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	table := crc32.MakeTable(crc32.Castagnoli)
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			buf := make([]byte, min(part, st.Size()-int64(i)*part))
			if _, err := f.ReadAt(buf, int64(i)*part); err != nil && err != io.EOF {
				mu.Lock()
				first = err
				mu.Unlock()
				return
			}
			var c [4]byte
			binary.BigEndian.PutUint32(c[:], crc32.Checksum(buf, table))
			sum := base64.StdEncoding.EncodeToString(c[:])
			out, err := b.s3.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: &key, UploadId: create.UploadId,
				PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(buf), ContentLength: aws.Int64(int64(len(buf))),
				ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c, ChecksumCRC32C: &sum},
				s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				first = err
				return
			}
			parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag, ChecksumCRC32C: &sum}
		}(i)
	}
	wg.Wait()
	if first != nil {
		return first
	}
	_, err = b.s3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: &key,
		UploadId: create.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	return err
}

func (b *bench) directDownload(key string) error {
	out, err := b.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: &key})
	if err != nil {
		return err
	}
	defer out.Body.Close()
	_, err = io.Copy(io.Discard, out.Body)
	return err
}

// concurrent: n curl uploads at once through the gateway, under its memory
// budget.
func (b *bench) concurrent(n int, size, limit int64) {
	log.Printf("concurrency: %d uploads of %d MiB", n, size>>20)
	path, sum := b.randomFile("conc.bin", size)
	defer os.Remove(path)
	r := b.uploadAtOnce(n, sum, func(i int) string { return fmt.Sprintf("conc-%d-%03d.bin", n, i) },
		func(key string) error { return b.curl(b.portS3, "-T", path, url(b.portS3, key)) })
	failed, bad, wall, rss := r.failed, r.bad, r.wall, r.rss
	agg := float64(n) * float64(size) / mib / wall
	budget := 64 + 12*float64(n)
	b.row(fmt.Sprintf("%d concurrent uploads of %d MiB: aggregate", n, size>>20), fmt.Sprintf("%.0f MiB/s, %d failed, %d bad sha256", agg, failed, bad), "0 failed")
	bufPeak := b.metric("ftps3_upload_buffer_bytes_peak") / mib
	b.row(fmt.Sprintf("%d concurrent uploads: gateway peak RSS", n), fmt.Sprintf("%.0f MiB", rss), fmt.Sprintf("≤ %.0f MiB (64 + 12/upload)", budget))
	b.row(fmt.Sprintf("%d concurrent uploads: part buffers peak", n), fmt.Sprintf("%.0f MiB", bufPeak), fmt.Sprintf("≤ budget %d MiB", limit>>20))
	b.results[fmt.Sprintf("concurrent_%d", n)] = map[string]any{"uploads": n, "size_mib": size >> 20, "aggregate_mibps": agg,
		"failed": failed, "bad_sha256": bad, "peak_rss_mib": rss, "buffer_peak_mib": bufPeak, "wall_s": wall}
}

// atOnce is what uploadAtOnce measured.
type atOnce struct {
	failed, bad int
	wall, rss   float64 // seconds; the gateway's peak RSS in MiB
}

// uploadAtOnce runs n uploads at once (upload of key(i)), then checks each
// object's sha256 against sum and deletes it.
func (b *bench) uploadAtOnce(n int, sum string, key func(int) string, upload func(key string) error) atOnce {
	b.gwS3.resetPeakRSS()
	t0 := time.Now()
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) { errs <- upload(key(i)) }(i)
	}
	var r atOnce
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			r.failed++
			log.Printf("upload failed: %v", err)
		}
	}
	r.wall = time.Since(t0).Seconds()
	r.rss = b.gwS3.peakRSS()
	for i := 0; i < n; i++ {
		if b.objectSHA256(key(i)) != sum {
			r.bad++
		}
		b.deleteKeys(key(i))
	}
	return r
}

// listing: LIST and MLSD of a directory of n objects through the gateway vs
// the bare ListObjectsV2 pages.
func (b *bench) listing(n, rounds int) {
	log.Printf("listing: %d objects", n)
	ctx := context.Background()
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			_, err := b.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(fmt.Sprintf("many/file-%05d.txt", i)),
				Body: strings.NewReader("x")}, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
			check(err)
		}(i)
	}
	wg.Wait()
	var bare, list, mlsd []float64
	sess := b.login()
	defer sess.close()
	// The gateway's RSS before the listing: after the concurrent uploads it
	// still holds memory the Go runtime has not returned to the system, and
	// the reset peak starts from there, so the listing's own cost is the
	// peak's rise above it.
	b.gwS3.resetPeakRSS()
	rss0 := b.gwS3.rss()
	for r := 0; r < rounds; r++ {
		t0 := time.Now()
		count := 0
		pages := s3.NewListObjectsV2Paginator(b.s3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("many/"), Delimiter: aws.String("/")})
		for pages.HasMorePages() {
			p, err := pages.NextPage(ctx)
			check(err)
			count += len(p.Contents)
		}
		bare = append(bare, time.Since(t0).Seconds())
		if count != n {
			log.Fatalf("listed %d objects, want %d", count, n)
		}
		// Alternate which listing goes first, so neither always meets a
		// cache warmed by the other.
		if r%2 == 0 {
			list = append(list, b.timedListing(sess, "LIST many", n))
			mlsd = append(mlsd, b.timedListing(sess, "MLSD many", n))
		} else {
			mlsd = append(mlsd, b.timedListing(sess, "MLSD many", n))
			list = append(list, b.timedListing(sess, "LIST many", n))
		}
	}
	rss := b.gwS3.peakRSS()
	mb, ml, mm := median(bare), median(list), median(mlsd)
	b.row(fmt.Sprintf("list %d objects: bare ListObjectsV2", n), fmt.Sprintf("%.0f ms", mb*1000), "")
	b.row(fmt.Sprintf("list %d objects: LIST / MLSD command via gateway", n), fmt.Sprintf("%.0f / %.0f ms (%.2f× / %.2f×)", ml*1000, mm*1000, ml/mb, mm/mb), "≤ 1.2×")
	b.row("gateway RSS while listing: rise of the peak above the RSS before", fmt.Sprintf("+%.0f MiB (peak %.0f, before %.0f)", rss-rss0, rss, rss0), "")
	b.results["listing"] = map[string]any{"objects": n, "bare_s": bare, "list_s": list, "mlsd_s": mlsd, "list_ratio": ml / mb, "mlsd_ratio": mm / mb,
		"peak_rss_mib": rss, "rss_before_mib": rss0, "peak_rss_rise_mib": rss - rss0}
}

// benchTLS is the FTPS client's TLS: one session cache under one server
// name, so a data connection resumes its control connection's session (the
// gateway requires it, FTP_TLS_SESSION_REUSE).
var benchTLS = &tls.Config{InsecureSkipVerify: true, ServerName: "ftps3-bench", //nolint:gosec // benchmark against a self-signed certificate
	ClientSessionCache: tls.NewLRUClientSessionCache(64)}

// ftpSession is a logged-in control connection (implicit TLS).
type ftpSession struct {
	conn *tls.Conn
	r    *bufio.Reader
	cfg  *tls.Config
}

func (s *ftpSession) expect(code string) string {
	line, err := s.r.ReadString('\n')
	check(err)
	if !strings.HasPrefix(line, code) {
		log.Fatalf("FTP reply %q, want %s", line, code)
	}
	return line
}

func (s *ftpSession) send(format string, args ...any) { fmt.Fprintf(s.conn, format+"\r\n", args...) }
func (s *ftpSession) close()                          { s.send("QUIT"); s.conn.Close() }

func (b *bench) login() *ftpSession { return b.loginWith(benchTLS) }

// loginWith logs in with cfg, whose session cache the session's data
// connections then resume from (one cache per session at once).
func (b *bench) loginWith(cfg *tls.Config) *ftpSession {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", b.portS3), cfg)
	check(err)
	s := &ftpSession{conn: conn, r: bufio.NewReader(conn), cfg: cfg}
	s.expect("220")
	s.send("USER %s", user)
	s.expect("331")
	s.send("PASS %s", password)
	s.expect("230")
	return s
}

// timedListing times one listing command, from sending it to the 226 after
// the last line arrived, and checks the line count.
func (b *bench) timedListing(s *ftpSession, command string, want int) float64 {
	port := s.epsv()
	t0 := time.Now()
	s.send("%s", command)
	data, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), benchTLS)
	check(err)
	s.expect("150")
	body, err := io.ReadAll(data)
	check(err)
	data.Close()
	s.expect("226")
	d := time.Since(t0).Seconds()
	if lines := bytes.Count(body, []byte("\n")); lines != want {
		log.Fatalf("%s gave %d lines, want %d", command, lines, want)
	}
	return d
}

// logins: time from TCP connect to the 230 reply, implicit TLS.
func (b *bench) logins(n int) {
	log.Printf("logins: %d sequential", n)
	var ms []float64
	for i := 0; i < n; i++ {
		t0 := time.Now()
		sess := b.login()
		ms = append(ms, float64(time.Since(t0).Microseconds())/1000)
		sess.close()
	}
	b.row(fmt.Sprintf("login (connect → 230), %d sequential", n), fmt.Sprintf("median %.1f ms, p99 %.1f ms", median(ms), percentile(ms, 0.99)), "median ≤ 20 ms")
	b.results["logins"] = map[string]any{"count": n, "median_ms": median(ms), "p99_ms": percentile(ms, 0.99)}
}

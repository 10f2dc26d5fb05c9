package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Many small files: files per second through the gateway against the same
// requests sent straight to S3 by one SDK client (keep-alive), sequentially
// in one session (Python's ftplib, curl's multi-file upload), in 10 sessions
// at once (Go clients), and downloads; plus the S3 requests each STOR costs,
// from the gateway's metrics.

// ftplibScript uploads or downloads files in one explicit-TLS session and
// prints the seconds from the first command to the last reply (login not
// included). Its data connections resume the control connection's TLS
// session, which the gateway requires: the usual ftplib subclass.
const ftplibScript = `
import ftplib, ssl, sys, time, os
host, port, user, password, mode, remote_dir = sys.argv[1:7]
files = sys.argv[7:]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
class Reusing(ftplib.FTP_TLS):
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size
f = Reusing(context=ctx, timeout=60)
f.connect(host, int(port)); f.auth(); f.login(user, password); f.prot_p()
t0 = time.perf_counter()
for p in files:
    name = remote_dir + "/" + os.path.basename(p)
    if mode == "stor":
        with open(p, "rb") as fh:
            f.storbinary("STOR " + name, fh, blocksize=65536)
    else:
        f.retrbinary("RETR " + name, lambda b: None, blocksize=65536)
print(time.perf_counter() - t0)
f.quit()
`

// s3Requests sums the gateway's S3 request counters: all operations, and
// those that move an upload's data.
func (b *bench) s3Requests() (all, data float64) {
	for _, l := range strings.Split(b.metricsText(), "\n") {
		rest, ok := strings.CutPrefix(l, "ftps3_s3_requests_total{")
		if !ok {
			continue
		}
		var v float64
		fmt.Sscan(rest[strings.LastIndexByte(rest, ' ')+1:], &v)
		all += v
		for _, op := range []string{"PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"} {
			if strings.HasPrefix(rest, `operation="`+op+`"`) {
				data += v
			}
		}
	}
	return all, data
}

func (b *bench) smallFiles(n16k, n1m int) {
	script := filepath.Join(b.dir, "ftplib_files.py")
	check(os.WriteFile(script, []byte(ftplibScript), 0o644))
	res := map[string]any{}
	for _, c := range []struct {
		size  int64
		n     int
		label string
	}{{16 << 10, n16k, "16 KiB"}, {1 << 20, n1m, "1 MiB"}} {
		log.Printf("small files: %d of %s", c.n, c.label)
		dir := filepath.Join(b.dir, fmt.Sprintf("small-%d", c.size))
		check(os.MkdirAll(dir, 0o755))
		var paths, names []string
		for i := 0; i < c.n; i++ {
			name := fmt.Sprintf("f%05d.bin", i)
			p := filepath.Join(dir, name)
			buf := make([]byte, c.size)
			rand.Read(buf)
			check(os.WriteFile(p, buf, 0o644))
			paths, names = append(paths, p), append(names, name)
		}
		remote := fmt.Sprintf("small%d", c.size)
		sess := b.login()
		for _, d := range []string{remote, "curl" + remote} {
			sess.send("MKD %s", d)
			sess.expect("257")
		}
		sess.close()

		// Direct: one SDK client, PutObject after PutObject.
		t0 := time.Now()
		for i, p := range paths {
			data, _ := os.ReadFile(p)
			_, err := b.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket),
				Key: aws.String(fmt.Sprintf("direct%d/%s", c.size, names[i])), Body: bytes.NewReader(data)},
				s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
			check(err)
		}
		direct := float64(c.n) / time.Since(t0).Seconds()

		// ftplib: STOR after STOR in one session.
		all0, data0 := b.s3Requests()
		out, err := exec.Command("python3", append([]string{script, "127.0.0.1", fmt.Sprint(b.portS3), user, password, "stor", remote}, paths...)...).CombinedOutput()
		if err != nil {
			log.Fatalf("ftplib upload: %v: %s", err, out)
		}
		all1, data1 := b.s3Requests()
		var secs float64
		fmt.Sscan(string(out), &secs)
		ftplib := float64(c.n) / secs
		perStor, beforeData := (all1-all0)/float64(c.n), (all1-all0-(data1-data0))/float64(c.n)
		b.verify(remote+"/"+names[0], fileSHA256(paths[0]))
		b.verify(remote+"/"+names[c.n-1], fileSHA256(paths[c.n-1]))

		// curl: one command, one session, every file.
		t0 = time.Now()
		check(b.curl(b.portS3, "-T", dir+"/{"+strings.Join(names, ",")+"}", url(b.portS3, "curl"+remote+"/")))
		curl := float64(c.n) / time.Since(t0).Seconds()
		b.verify("curl"+remote+"/"+names[c.n-1], fileSHA256(paths[c.n-1]))

		b.row(fmt.Sprintf("%d files of %s, one session: ftplib STOR / curl -T / direct PutObject", c.n, c.label),
			fmt.Sprintf("%.0f / %.0f / %.0f files/s (%.2f× / %.2f×)", ftplib, curl, direct, ftplib/direct, curl/direct), "≥ 0.5×")
		key := strings.ReplaceAll(c.label, " ", "")
		res[key] = map[string]any{"files": c.n, "ftplib_files_per_s": ftplib, "curl_files_per_s": curl, "direct_files_per_s": direct,
			"ftplib_ratio": ftplib / direct, "curl_ratio": curl / direct, "s3_requests_per_stor": perStor, "s3_requests_before_data": beforeData}

		if c.size == 16<<10 {
			b.row("S3 requests per STOR (gateway metrics): before the data / in all", fmt.Sprintf("%.2f / %.2f", beforeData, perStor), "≤ 2 before the data")

			// Downloads: RETR after RETR vs GetObject after GetObject.
			out, err := exec.Command("python3", append([]string{script, "127.0.0.1", fmt.Sprint(b.portS3), user, password, "retr", remote}, paths...)...).CombinedOutput()
			if err != nil {
				log.Fatalf("ftplib download: %v: %s", err, out)
			}
			fmt.Sscan(string(out), &secs)
			retr := float64(c.n) / secs
			t0 = time.Now()
			for _, name := range names {
				check(b.directDownload(remote + "/" + name))
			}
			get := float64(c.n) / time.Since(t0).Seconds()
			b.row(fmt.Sprintf("%d files of %s downloaded, one session: ftplib RETR / direct GetObject", c.n, c.label),
				fmt.Sprintf("%.0f / %.0f files/s (%.2f×)", retr, get, retr/get), "≥ 0.5×")
			res["download_16KiB"] = map[string]any{"files": c.n, "ftplib_files_per_s": retr, "direct_files_per_s": get, "ratio": retr / get}

			b.parallelSmall(names, paths, 10, res)
		}
		os.RemoveAll(dir)
	}
	b.results["small_files"] = res
}

// parallelSmall: n sessions (Go FTPS clients, one TLS session cache each)
// upload the files between them at once, against n SDK clients' PutObjects.
func (b *bench) parallelSmall(names, paths []string, n int, res map[string]any) {
	log.Printf("small files: %d sessions in parallel", n)
	contents := make([][]byte, len(paths))
	for i, p := range paths {
		contents[i], _ = os.ReadFile(p)
	}
	run := func(work func(worker, i int)) float64 {
		var wg sync.WaitGroup
		t0 := time.Now()
		for w := 0; w < n; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; i < len(names); i += n {
					work(w, i)
				}
			}(w)
		}
		wg.Wait()
		return float64(len(names)) / time.Since(t0).Seconds()
	}
	sessions := make([]*ftpSession, n)
	for w := range sessions {
		sessions[w] = b.loginWith(&tls.Config{InsecureSkipVerify: true, ServerName: "ftps3-bench", //nolint:gosec // self-signed
			ClientSessionCache: tls.NewLRUClientSessionCache(4)})
	}
	sessions[0].send("MKD par")
	sessions[0].expect("257")
	var failMu sync.Mutex
	failed := 0
	gw := run(func(w, i int) {
		if err := sessions[w].stor("par/"+names[i], contents[i]); err != nil {
			failMu.Lock()
			failed++
			failMu.Unlock()
			log.Printf("parallel STOR %s: %v", names[i], err)
		}
	})
	for _, s := range sessions {
		s.close()
	}
	direct := run(func(_, i int) {
		_, err := b.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket),
			Key: aws.String("directpar/" + names[i]), Body: bytes.NewReader(contents[i])},
			s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
		check(err)
	})
	b.row(fmt.Sprintf("%d files of 16 KiB, %d sessions in parallel: gateway / %d direct clients", len(names), n, n),
		fmt.Sprintf("%.0f / %.0f files/s (%.2f×), %d failed", gw, direct, gw/direct, failed), "≥ 0.5×")
	res["parallel_16KiB"] = map[string]any{"sessions": n, "files": len(names), "gateway_files_per_s": gw, "direct_files_per_s": direct, "ratio": gw / direct}
}

// stor uploads one file on a logged-in session (EPSV, STOR, a TLS data
// connection that resumes the session, 226).
func (s *ftpSession) stor(name string, data []byte) error {
	port := s.epsv()
	s.send("STOR %s", name)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", port), s.cfg)
	if err != nil {
		s.expect("") // the reply that ends the STOR
		return fmt.Errorf("data connection to port %d: %w", port, err)
	}
	s.expect("150")
	if _, err = conn.Write(data); err == nil {
		err = conn.Close()
	}
	s.expect("226")
	return err
}

func fileSHA256(p string) string {
	f, err := os.Open(p)
	check(err)
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	return fmt.Sprintf("%x", h.Sum(nil))
}

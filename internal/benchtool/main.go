// Command benchtool measures the gateway against direct S3 access in one
// run, on this machine, with real processes: MinIO, release builds of the
// gateway (one on S3, one on a local directory), curl as the FTPS client and
// aws-sdk-go-v2 as the direct client. It prints a table and writes JSON.
// scripts/bench.sh builds what it needs and runs it.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ftps3/ftps3/app/config"
	"github.com/ftps3/ftps3/app/storage/s3store"
)

const (
	user     = "bench"
	password = "bench-password"
	bucket   = "bench"
	minioKey = "benchadmin"
	minioSec = "benchadmin-secret"
)

type bench struct {
	dir            string
	minio          *proc
	endpoint       string
	s3             *s3.Client
	gwS3, gwFile   *proc
	gwBin          string
	gwS3Env        []string     // how gwS3 was started (restartS3Gateway)
	sumGateways    []sumGateway // S3 gateways with other CHECKSUMS (checksums.go)
	portS3, portFS int
	httpS3         int
	fileRoot       string
	sftpS3         int    // the S3 gateway's SFTP port
	sftpKey        string // the bench user's private key file (OpenSSH format)
	sftpPub        string // its public key, authorized_keys form
	results        map[string]any
	rows           [][3]string
}

func main() {
	gatewayBin := flag.String("gateway", "", "gateway binary (release build)")
	minioBin := flag.String("minio", "", "MinIO binary")
	size := flag.String("size", "1GiB", "size of the single-file upload and download")
	rounds := flag.Int("rounds", 3, "rounds of each A/B comparison (medians are quoted)")
	conc := flag.String("concurrency", "20,100", "concurrent upload counts")
	concSize := flag.String("concurrent-size", "64MiB", "size of each concurrent upload")
	objects := flag.Int("objects", 10000, "objects in the listed directory")
	logins := flag.Int("logins", 200, "sequential logins timed")
	sftpOn := flag.Bool("sftp", true, "also measure SFTP (OpenSSH's sftp as the client)")
	smallFiles := flag.Int("small-files", 500, "small files uploaded in one session (files/s)")
	small16k := flag.Int("files-16k", 500, "16 KiB files uploaded and downloaded one by one, and by 10 sessions (0: skip)")
	small1m := flag.Int("files-1m", 100, "1 MiB files uploaded one by one")
	memLimit := flag.String("memory-limit", "512MiB", "gateway FTP_UPLOAD_MEMORY_LIMIT")
	out := flag.String("json", "bench-results.json", "where to write the figures")
	flag.Parse()
	log.SetFlags(0)
	if *gatewayBin == "" || *minioBin == "" {
		log.Fatal("usage: benchtool -gateway BIN -minio BIN [flags]")
	}
	bigSize, err := config.ParseSize(*size)
	check(err)
	smallSize, err := config.ParseSize(*concSize)
	check(err)
	limit, err := config.ParseSize(*memLimit)
	check(err)

	dir, err := os.MkdirTemp("", "ftps3-bench-")
	check(err)
	defer os.RemoveAll(dir)
	b := &bench{dir: dir, results: map[string]any{}}
	defer b.stopAll()
	b.startMinIO(*minioBin)
	b.sftpKeys()
	b.startGateways(*gatewayBin, *memLimit)
	b.results["machine"] = machine()
	b.results["memory_limit_mib"] = limit >> 20

	b.singleFile(bigSize, *rounds)
	b.checksumCost(bigSize, *rounds)
	b.resumeCost(bigSize, *rounds)
	if *small16k > 0 {
		b.smallFiles(*small16k, *small1m)
	}
	for _, n := range strings.Split(*conc, ",") {
		var count int
		fmt.Sscan(n, &count)
		if count > 0 {
			b.restartS3Gateway()
			b.concurrent(count, smallSize, limit)
		}
	}
	b.listing(*objects, *rounds)
	b.logins(*logins)
	if *sftpOn {
		b.restartS3Gateway()
		b.sftpSingleFile(bigSize, *rounds)
		for _, n := range strings.Split(*conc, ",") {
			var count int
			fmt.Sscan(n, &count)
			if count > 0 && count <= 20 { // one OpenSSH process per upload: 20 at most on this machine
				b.sftpConcurrent(count, smallSize, limit)
			}
		}
		b.sftpSmallFiles(*smallFiles)
	}

	b.print()
	data, _ := json.MarshalIndent(b.results, "", "  ")
	check(os.WriteFile(*out, data, 0o644))
	fmt.Printf("\nfigures written to %s\n", *out)
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// freePort is a port free now and not handed out before in this run (the
// kernel may give a closed port again at once).
func freePort() int {
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		check(err)
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !handedOut[port] {
			handedOut[port] = true
			return port
		}
	}
}

var handedOut = map[int]bool{}

func (b *bench) stopAll() {
	b.gwS3.stop()
	b.gwFile.stop()
	for _, g := range b.sumGateways {
		g.proc.stop()
	}
	b.minio.stop()
}

func (b *bench) startMinIO(bin string) {
	port := freePort()
	var err error
	b.minio, err = startProc("minio", bin, []string{"MINIO_ROOT_USER=" + minioKey, "MINIO_ROOT_PASSWORD=" + minioSec, "MINIO_BROWSER=off"},
		"server", "--quiet", "--address", fmt.Sprintf("127.0.0.1:%d", port), "--console-address", "127.0.0.1:0", filepath.Join(b.dir, "minio"))
	check(err)
	b.endpoint = fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHTTP(b.endpoint + "/minio/health/ready")
	b.s3, err = s3store.NewClient(context.Background(), s3store.ClientOptions{Region: "us-east-1", Endpoint: b.endpoint,
		PathStyle: true, AccessKeyID: minioKey, SecretAccessKey: minioSec})
	check(err)
	_, err = b.s3.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	check(err)
}

func (b *bench) startGateways(bin, memLimit string) {
	common := func(port, first, httpPort int) []string {
		return []string{
			fmt.Sprintf("FTP_COMMAND_PORT=%d", port), fmt.Sprintf("FTP_DATA_PORTS_FIRST=%d", first), "FTP_DATA_PORTS_COUNT=150",
			fmt.Sprintf("HEALTHCHECK_PORT=%d", freePort()), fmt.Sprintf("FTP_HTTP_ADDR=127.0.0.1:%d", httpPort),
			"FTP_USERS__0__LOGIN=" + user, "FTP_USERS__0__PASSWORD=" + password, "FTP_LOG_LEVEL=warn",
			"FTP_LOGIN_MAX_FAILURES=1000", "FTP_UPLOAD_MEMORY_LIMIT=" + memLimit, "HOME=" + b.dir,
			// Every bench client comes from 127.0.0.1: one address, many clients.
			"FTP_MAX_CONNECTIONS_PER_ADDRESS=2000", "FTP_MAX_LOGINS_PENDING_PER_ADDRESS=2000", "FTP_MAX_CONNECTIONS=4000",
			"FTP_USERS__0__PUBLIC_KEYS=" + b.sftpPub, fmt.Sprintf("SFTP_PORT=%d", freePort()),
			"SFTP_HOST_KEY_SEED=" + rand.Text() + rand.Text(),
		}
	}
	b.portS3, b.portFS, b.httpS3 = freePort(), freePort(), freePort()
	var err error
	b.sftpS3 = freePort()
	b.gwBin = bin
	b.gwS3Env = append(common(b.portS3, 20000, b.httpS3), fmt.Sprintf("SFTP_PORT=%d", b.sftpS3),
		"AWS_ENDPOINT_URL_S3="+b.endpoint, "AWS_S3_BUCKET_NAME="+bucket, "AWS_S3_BUCKET_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID="+minioKey, "AWS_SECRET_ACCESS_KEY="+minioSec)
	b.gwS3, err = startProc("gateway-s3", bin, b.gwS3Env)
	check(err)
	s3env := []string{"AWS_ENDPOINT_URL_S3=" + b.endpoint, "AWS_S3_BUCKET_NAME=" + bucket, "AWS_S3_BUCKET_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=" + minioKey, "AWS_SECRET_ACCESS_KEY=" + minioSec}
	for i, sums := range []string{"off", "sha256,sha1,md5"} {
		g := sumGateway{checksums: sums, port: freePort()}
		g.proc, err = startProc("gateway-s3-"+sums, bin, append(append(common(g.port, 20400+i*200, freePort()), s3env...), "CHECKSUMS="+sums))
		check(err)
		b.sumGateways = append(b.sumGateways, g)
	}
	b.fileRoot = filepath.Join(b.dir, "filestore")
	b.gwFile, err = startProc("gateway-file", bin, append(common(b.portFS, 20200, freePort()),
		"FTP_STORAGE=file", "FTP_STORAGE_DIR="+b.fileRoot))
	check(err)
	waitTCP(b.portS3)
	waitTCP(b.portFS)
	waitTCP(b.sftpS3)
	for _, g := range b.sumGateways {
		waitTCP(g.port)
	}
}

// restartS3Gateway starts the S3 gateway afresh: the memory rows of a phase
// then show that phase, not what the earlier ones left in the process (a Go
// process keeps the memory it once used for a while).
func (b *bench) restartS3Gateway() {
	b.gwS3.stop()
	var err error
	b.gwS3, err = startProc("gateway-s3", b.gwBin, b.gwS3Env)
	check(err)
	waitTCP(b.portS3)
	waitTCP(b.sftpS3)
}

// metricsText is the S3 gateway's /metrics page.
func (b *bench) metricsText() string {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", b.httpS3))
	check(err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// metric reads one value from the S3 gateway's /metrics.
func (b *bench) metric(name string) float64 {
	for _, l := range strings.Split(b.metricsText(), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	return -1
}

func waitHTTP(url string) {
	for i := 0; i < 600; i++ {
		if r, err := http.Get(url); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	log.Fatalf("%s never became ready", url)
}

func waitTCP(port int) {
	for i := 0; i < 300; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	log.Fatalf("port %d never opened", port)
}

// randomFile writes size random bytes and returns the path and sha256.
func (b *bench) randomFile(name string, size int64) (string, string) {
	p := filepath.Join(b.dir, name)
	f, err := os.Create(p)
	check(err)
	h := sha256.New()
	_, err = io.CopyN(io.MultiWriter(f, h), rand.Reader, size)
	check(err)
	check(f.Close())
	return p, hex.EncodeToString(h.Sum(nil))
}

func (b *bench) curl(port int, args ...string) error {
	all := append([]string{"-sS", "--fail", "-k", "--ssl-reqd", "--user", user + ":" + password}, args...)
	out, err := exec.Command("curl", all...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("curl %v: %v: %s", args, err, out)
	}
	return nil
}

func url(port int, path string) string { return fmt.Sprintf("ftps://127.0.0.1:%d/%s", port, path) }

// objectSHA256 reads an object back from MinIO.
func (b *bench) objectSHA256(key string) string {
	out, err := b.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "missing: " + err.Error()
	}
	defer out.Body.Close()
	h := sha256.New()
	io.Copy(h, out.Body)
	return hex.EncodeToString(h.Sum(nil))
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func percentile(xs []float64, p float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(p*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

func (b *bench) row(what, value, target string) {
	b.rows = append(b.rows, [3]string{what, value, target})
}

func (b *bench) print() {
	w := [3]int{}
	for _, r := range b.rows {
		for i := range r {
			w[i] = max(w[i], len(r[i]))
		}
	}
	fmt.Printf("\n| %-*s | %-*s | %-*s |\n", w[0], "measure", w[1], "result", w[2], "target")
	fmt.Printf("|%s|%s|%s|\n", strings.Repeat("-", w[0]+2), strings.Repeat("-", w[1]+2), strings.Repeat("-", w[2]+2))
	for _, r := range b.rows {
		fmt.Printf("| %-*s | %-*s | %-*s |\n", w[0], r[0], w[1], r[1], w[2], r[2])
	}
}

func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	n := 0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		n = strings.Count(string(b), "processor\t:")
	}
	return fmt.Sprintf("%d × %s", n, cpu)
}

var _ sync.Mutex

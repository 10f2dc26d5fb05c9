package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"crypto/tls"

	"github.com/jlaffaye/ftp"

	"github.com/ftps3/ftps3/internal/testenv"
)

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// `go run ./app` with no configuration: a local directory, a self-signed
// certificate, a development user printed at start.
func TestEmbeddedDefault(t *testing.T) {
	dir := t.TempDir()
	cmdPort, health, httpPort := freePort(t), freePort(t), freePort(t)
	sftpPort := freePort(t)
	env := []string{"HOME=" + dir, "FTP_STORAGE_DIR=" + dir + "/data",
		fmt.Sprintf("FTP_COMMAND_PORT=%d", cmdPort), fmt.Sprintf("FTP_DATA_PORTS_FIRST=%d", 20000+cmdPort%10000), "FTP_DATA_PORTS_COUNT=5",
		fmt.Sprintf("HEALTHCHECK_PORT=%d", health), fmt.Sprintf("FTP_HTTP_ADDR=127.0.0.1:%d", httpPort),
		fmt.Sprintf("SFTP_PORT=%d", sftpPort)}
	out := &testenv.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, env, out) }()

	re := regexp.MustCompile(`Development user: (\S+) / (\S+)`)
	var m []string
	for deadline := time.Now().Add(10 * time.Second); m == nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		m = re.FindStringSubmatch(out.String())
	}
	if m == nil {
		t.Fatalf("no development user printed:\n%s", out.String())
	}
	c, err := ftp.Dial(fmt.Sprintf("127.0.0.1:%d", cmdPort), ftp.DialWithTLS(&tls.Config{InsecureSkipVerify: true, ServerName: "ftps3", ClientSessionCache: tls.NewLRUClientSessionCache(4)}), ftp.DialWithTimeout(5*time.Second)) //nolint:gosec
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(m[1], m[2]); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("hello.txt", strings.NewReader("hello")); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	checkEmbeddedSFTP(t, out.String(), dir, sftpPort, m[1], m[2])

	if conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", health)); err != nil {
		t.Errorf("health check port: %v", err)
	} else {
		conn.Close()
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`ftps3_transfers_total{direction="upload",result="ok"} 1`, `ftps3_logins_total{result="ok"} 1`, "ftps3_upload_buffer_bytes_limit"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	if code := probeAt(t, httpPort); code != 0 {
		t.Errorf("-healthcheck = %d while serving", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), m[2]+`"`) || strings.Count(out.String(), m[2]) != 4 {
		t.Errorf("the password appears in logs beyond the start banner:\n%s", out.String())
	}
}

func probeAt(t *testing.T, port int) int {
	t.Setenv("FTP_HTTP_ADDR", fmt.Sprintf(":%d", port))
	return probe()
}

func TestConfigurationErrorsNameTheVariable(t *testing.T) {
	err := run(context.Background(), []string{"FTP_COMMAND_PORT=ftp", "AWS_S3_BUCKET_NAME=b"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "FTP_COMMAND_PORT") || !strings.Contains(err.Error(), "FTP_USERS__0__LOGIN") {
		t.Fatalf("err = %v", err)
	}
}

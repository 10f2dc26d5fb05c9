package ftp_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gw "github.com/ftps3/ftps3/app/ftp"
	"github.com/ftps3/ftps3/internal/testenv"
)

// run runs a real client with a deadline and returns its output.
func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

func needTool(t *testing.T, name string) {
	t.Helper()
	p, _ := exec.LookPath(name)
	testenv.Require(t, name, p)
}

// curl: implicit FTPS (ftps://) and explicit (ftp:// with --ssl-reqd), over
// TLS 1.2 and 1.3: upload, list, download, MKD/RNFR/RNTO/DELE/RMD as quote
// commands. Each stored object must have exactly the size sent. curl's data
// connections resume the control session under TLS 1.3; under TLS 1.2 curl
// turns session tickets off, and Go's TLS resumes by ticket only, so the
// TLS 1.2 runs need FTP_TLS_SESSION_REUSE=optional (see
// TestCurlTLS12RequiredReuse).
func TestCurlSession(t *testing.T) {
	needTool(t, "curl")
	g13 := startGateway(t, gatewayOptions{})
	g12 := startGateway(t, gatewayOptions{reuse: gw.ReuseOptional})
	data := randomData(9<<20 + 11)
	src := writeTemp(t, "up.bin", data)
	for _, c := range []struct {
		name, scheme string
		tls          []string
	}{
		{"implicit-tls1.2", "ftps", []string{"--tls-max", "1.2"}},
		{"implicit-tls1.3", "ftps", []string{"--tlsv1.3"}},
		{"explicit-tls1.2", "ftp", []string{"--tls-max", "1.2"}},
		{"explicit-tls1.3", "ftp", []string{"--tlsv1.3"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := g13
			if strings.HasSuffix(c.name, "1.2") {
				g = g12
			}
			base := fmt.Sprintf("%s://127.0.0.1:%d/", c.scheme, g.port)
			dir := "curl-" + c.name
			curl := func(args ...string) string {
				t.Helper()
				all := append([]string{"-sS", "--fail", "-k", "--ssl-reqd", "--user", testUser + ":" + testPass, "--max-time", "60"}, c.tls...)
				all = append(all, args...)
				out, err := run(t, "curl", all...)
				if err != nil {
					t.Fatalf("curl %v: %v\n%s", args, err, out)
				}
				return out
			}
			curl("-Q", "MKD "+dir, "-T", src, base+dir+"/data.bin")
			if got, err := g.object(dir + "/data.bin"); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("stored object: %d bytes of %d, %v", len(got), len(data), err)
			}
			if list := curl(base + dir + "/"); !strings.Contains(list, fmt.Sprintf("%d", len(data))) || !strings.Contains(list, "data.bin") {
				t.Fatalf("LIST:\n%s", list)
			}
			dst := filepath.Join(t.TempDir(), "down.bin")
			curl("-o", dst, base+dir+"/data.bin")
			if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) {
				t.Fatal("download differs")
			}
			curl("-Q", "RNFR "+dir+"/data.bin", "-Q", "RNTO "+dir+"/renamed.bin", "-Q", "RNFR "+dir, "-Q", "RNTO "+dir+"-moved", base)
			if names := curl("--list-only", base+dir+"-moved/"); strings.TrimSpace(names) != "renamed.bin" {
				t.Fatalf("NLST after renames: %q", names)
			}
			curl("-Q", "DELE "+dir+"-moved/renamed.bin", "-Q", "RMD "+dir+"-moved", base)
			if list := curl("--list-only", base); strings.Contains(list, dir) {
				t.Fatalf("left after cleanup: %q", list)
			}
		})
	}
	g13.noIncompleteUploads(t)
	g12.noIncompleteUploads(t)
}

// curl over TLS 1.2 offers no session ticket, so with reuse required its
// data connections are refused: the transfer fails and nothing is stored.
func TestCurlTLS12RequiredReuse(t *testing.T) {
	needTool(t, "curl")
	g := startGateway(t, gatewayOptions{backend: "file"})
	src := writeTemp(t, "up.bin", []byte("data"))
	out, err := run(t, "curl", "-sS", "--fail", "-k", "--ssl-reqd", "--tls-max", "1.2", "--user", testUser+":"+testPass,
		"--max-time", "60", "-T", src, fmt.Sprintf("ftps://127.0.0.1:%d/up.bin", g.port))
	if err == nil {
		t.Fatalf("curl over TLS 1.2 without tickets uploaded with reuse required:\n%s", out)
	}
	g.mustNotExist(t, "up.bin")
	if g.metrics.DataConnsRefused.Load() == 0 || !strings.Contains(g.logs.String(), "did not resume") {
		t.Errorf("the refusal is not counted or logged")
	}
}

// lftp, implicit (ftps://) and explicit (ftp:// with ftp:ssl-force).
func TestLftpSession(t *testing.T) {
	needTool(t, "lftp")
	for _, backend := range backends {
		g := startGateway(t, gatewayOptions{backend: backend})
		for _, scheme := range []string{"ftps", "ftp"} {
			t.Run(backend+"-"+scheme, func(t *testing.T) {
				data := randomData(7<<20 + 3)
				src := writeTemp(t, "up.bin", data)
				dst := filepath.Join(t.TempDir(), "down.bin")
				dir := "lftp " + scheme
				script := fmt.Sprintf(`set cmd:fail-exit yes
set ssl:verify-certificate no
set ftp:ssl-force yes
set ftp:ssl-protect-data yes
set net:max-retries 1
set net:timeout 20
open -u "%s,%s" %s://127.0.0.1:%d
mkdir "%s"
cd "%s"
put "%s" -o "data file.bin"
cls -l
get "data file.bin" -o "%s"
mv "data file.bin" renamed.bin
cd /
mv "%s" "%s moved"
cls "%s moved"
rm "%s moved/renamed.bin"
rmdir "%s moved"
echo LISTING-AFTER-CLEANUP
cls
bye
`, testUser, testPass, scheme, g.port, dir, dir, src, dst, dir, dir, dir, dir, dir)
				out, err := run(t, "lftp", "-c", script)
				if err != nil {
					t.Fatalf("lftp: %v\n%s", err, out)
				}
				if !strings.Contains(out, "data file.bin") || !strings.Contains(out, "renamed.bin") {
					t.Fatalf("listings missing in output:\n%s", out)
				}
				if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) {
					t.Fatalf("download differs (%d of %d bytes)", len(got), len(data))
				}
				if _, after, _ := strings.Cut(out, "LISTING-AFTER-CLEANUP"); strings.Contains(after, dir) {
					t.Fatalf("directory left after rmdir:\n%s", out)
				}
			})
		}
		g.noIncompleteUploads(t)
	}
}

// Python's ftplib: explicit TLS as it ships, implicit with a socket wrapper;
// TLS 1.2 and 1.3; a name with a quote, a double space and an emoji.
func TestPythonFtplibSession(t *testing.T) {
	needTool(t, "python3")
	g := startGateway(t, gatewayOptions{})
	src := writeTemp(t, "up.bin", randomData(6<<20+5))
	for _, mode := range []string{"explicit", "implicit"} {
		for _, v := range []string{"TLS1.2", "TLS1.3"} {
			t.Run(mode+"-"+v, func(t *testing.T) {
				out, err := run(t, "python3", "testdata/ftplib_session.py", "127.0.0.1", fmt.Sprint(g.port), testUser, testPass, mode, v, src)
				if err != nil || !strings.Contains(out, "SESSION OK") {
					t.Fatalf("ftplib session: %v\n%s", err, out)
				}
			})
		}
	}
	g.noIncompleteUploads(t)
}

// A client that sends its ClientHello as soon as it connects, and waits for
// the answer before its transfer command (curl), gets the handshake done
// first; the transfer then runs on it. Before the port ran its own TLS, the
// handshake waited for the transfer command and such a client for its
// timer.
func TestDataHandshakeBeforeTheTransferCommand(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file"})
	c := dialRaw(t, g.addr, false)
	c.startTLS()
	c.login()
	c.expect(200, "PBSZ 0")
	c.expect(200, "PROT P")
	port := c.epsvPort()
	dc := c.openData(port)
	dc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := dc.Handshake(); err != nil {
		t.Fatalf("data handshake before the transfer command: %v", err)
	}
	c.expect(200, "TYPE I") // commands in between, as curl sends them
	c.expect(550, "SIZE nothing-yet")
	c.send("STOR early.bin")
	c.expect150()
	if _, err := dc.Write([]byte("early")); err != nil {
		t.Fatal(err)
	}
	dc.Close()
	c.expect226()
	if got, err := g.object("early.bin"); err != nil || string(got) != "early" {
		t.Fatalf("stored %q, %v", got, err)
	}
}

// A client that connects at the passive reply and sends its ClientHello
// only after the 150 reply (ftplib, Go clients) has the whole ClientHello
// wait from the transfer command on, however long after connecting that
// command comes.
func TestClientHelloWaitStartsWithTheTransfer(t *testing.T) {
	defer gw.SetDataHelloTimeout(300 * time.Millisecond)()
	g := startGateway(t, gatewayOptions{backend: "file"})
	c := dialRaw(t, g.addr, true)
	c.login()
	port := c.epsvPort()
	dc := c.openData(port)
	time.Sleep(700 * time.Millisecond) // connected, silent, longer than the wait
	c.send("STOR slow.bin")
	c.expect150()
	dc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := dc.Write([]byte("slow")); err != nil {
		t.Fatalf("data connection after a slow transfer command: %v", err)
	}
	dc.Close()
	c.expect226()
	if got, err := g.object("slow.bin"); err != nil || string(got) != "slow" {
		t.Fatalf("stored %q, %v", got, err)
	}
}

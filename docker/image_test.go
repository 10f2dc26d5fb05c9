// Package docker holds the gateway's image (Dockerfile) and its test.
package docker

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func freePorts(t *testing.T, n int) int {
	for base := 21000 + int(time.Now().UnixNano()%5000); base < 30000; base += n {
		ok := true
		for p := base; p < base+n && ok; p++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
			} else {
				l.Close()
			}
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free ports")
	return 0
}

// The image runs as ECS runs it in bridge mode: every port published on the
// same host port. A client uploads and downloads through the published
// ports, with PASV answering the host's address; docker stop drains and
// the gateway exits 0.
func TestImageInBridgeMode(t *testing.T) {
	if err := exec.Command("docker", "info").Run(); err != nil {
		t.Skip("no Docker engine here: the image test needs one")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not found")
	}
	var b [4]byte
	rand.Read(b[:])
	tag := "ftps3-test:" + hex.EncodeToString(b[:])
	sh(t, "../scripts/build-image.sh", tag)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
	if user := sh(t, "docker", "inspect", "-f", "{{.Config.User}}", tag); user == "" || user == "0" || strings.HasPrefix(user, "root") {
		t.Errorf("image runs as %q, want a non-root user", user)
	}

	base := freePorts(t, 8)
	cmdPort, health, first := base, base+1, base+2
	name := "ftps3-test-" + hex.EncodeToString(b[:])
	args := []string{"run", "-d", "--name", name, "--stop-timeout", "20",
		"-p", fmt.Sprintf("127.0.0.1:%d:%d", cmdPort, cmdPort),
		"-p", fmt.Sprintf("127.0.0.1:%d:%d", health, health),
		"-p", fmt.Sprintf("127.0.0.1:%d-%d:%d-%d", first, first+5, first, first+5),
		"--tmpfs", "/data:uid=65532,gid=65532",
		"-e", fmt.Sprintf("FTP_COMMAND_PORT=%d", cmdPort), "-e", fmt.Sprintf("HEALTHCHECK_PORT=%d", health),
		"-e", fmt.Sprintf("FTP_DATA_PORTS_FIRST=%d", first), "-e", "FTP_DATA_PORTS_COUNT=6",
		"-e", "FTP_DATA_CIDR_TO_DOMAINS__0__CIDR=0.0.0.0/0", "-e", "FTP_DATA_CIDR_TO_DOMAINS__0__DOMAIN=127.0.0.1",
		"-e", "FTP_STORAGE=file", "-e", "FTP_STORAGE_DIR=/data",
		"-e", "FTP_USERS__0__LOGIN=partner", "-e", "FTP_USERS__0__PASSWORD=container secret",
		"-e", "FTP_SHUTDOWN_GRACE=5s", tag}
	id := sh(t, "docker", args...)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("docker", "logs", id).CombinedOutput()
			t.Logf("container log:\n%s", out)
		}
		exec.Command("docker", "rm", "-f", id).Run()
	})

	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", health)); err == nil {
			c.Close()
			if out, _ := exec.Command("docker", "logs", id).CombinedOutput(); bytes.Contains(out, []byte("ftps3 serving")) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the gateway did not start in the container")
		}
		time.Sleep(200 * time.Millisecond)
	}

	data := make([]byte, 3<<20+17)
	rand.Read(data)
	src := filepath.Join(t.TempDir(), "up.bin")
	os.WriteFile(src, data, 0o644)
	dst := filepath.Join(t.TempDir(), "down.bin")
	url := fmt.Sprintf("ftps://127.0.0.1:%d/", cmdPort)
	curl := []string{"-sS", "--fail", "-k", "--ssl-reqd", "--disable-epsv", "--user", "partner:container secret", "--max-time", "30"}
	sh(t, "curl", append(curl, "-T", src, url+"up.bin")...)
	sh(t, "curl", append(curl, "-o", dst, url+"up.bin")...)
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) {
		t.Fatalf("download through the container differs (%d of %d bytes)", len(got), len(data))
	}
	if list := sh(t, "curl", append(curl, url)...); !strings.Contains(list, "up.bin") {
		t.Fatalf("LIST: %s", list)
	}

	sh(t, "docker", "stop", id)
	if code := sh(t, "docker", "inspect", "-f", "{{.State.ExitCode}}", id); code != "0" {
		t.Errorf("exit code after docker stop: %s", code)
	}
	if logs, _ := exec.Command("docker", "logs", id).CombinedOutput(); !bytes.Contains(logs, []byte("draining")) || !bytes.Contains(logs, []byte("msg=stopped")) {
		t.Errorf("no drain in the logs:\n%s", logs)
	}
}

package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// checkEmbeddedSFTP: the embedded default serves SFTP with the development
// user, prints the host key's fingerprint and the sftp command, and keeps
// the generated key beside the data directory (not inside it, where the
// store would serve it).
func checkEmbeddedSFTP(t *testing.T, banner, dir string, port int, user, pass string) {
	t.Helper()
	if want := fmt.Sprintf("sftp -P %d %s@127.0.0.1", port, user); !strings.Contains(banner, want) {
		t.Errorf("banner lacks %q:\n%s", want, banner)
	}
	m := regexp.MustCompile(`SFTP host key \S+ (SHA256:\S+)`).FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("no host key fingerprint in the banner:\n%s", banner)
	}
	keyFile := filepath.Join(dir, ".ftps3", "ssh_host_ed25519_key")
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("host key file %s: %v %v", keyFile, fi, err)
	}
	var seen string
	cfg := &ssh.ClientConfig{User: user, Auth: []ssh.AuthMethod{ssh.Password(pass)}, Timeout: 10 * time.Second,
		HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error { seen = ssh.FingerprintSHA256(k); return nil }}
	conn, err := ssh.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), cfg)
	if err != nil {
		t.Fatalf("sftp login: %v", err)
	}
	defer conn.Close()
	if seen != m[1] {
		t.Errorf("host key %s, banner says %s", seen, m[1])
	}
	c, err := sftp.NewClient(conn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fi, err := c.Stat("hello.txt") // uploaded over FTPS just before
	if err != nil || fi.Size() != 5 {
		t.Errorf("stat over SFTP of the FTPS upload: %v %v", fi, err)
	}
}

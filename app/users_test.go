package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ftps3/ftps3/app/auth"
	"github.com/ftps3/ftps3/internal/testenv"
)

// An operator edits the user file while the gateway runs: a new user logs
// in, a changed password takes over, a broken file changes nothing, and a
// removed user's session is closed with its upload discarded, while other
// sessions go on.
func TestUsersFileReloadsWhileRunning(t *testing.T) {
	dir := t.TempDir()
	usersFile := filepath.Join(dir, "users.json")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(usersFile+".tmp", []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Rename(usersFile+".tmp", usersFile) // as an editor saves it
	}
	write(`[{"login":"alice","password":"one"},{"login":"bob","password":"two"}]`)
	cmdPort, httpPort := freePort(t), freePort(t)
	env := []string{"HOME=" + dir, "FTP_STORAGE_DIR=" + dir + "/data", "FTP_USERS_FILE=" + usersFile, "FTP_USERS_RELOAD_INTERVAL=1s",
		fmt.Sprintf("FTP_COMMAND_PORT=%d", cmdPort), fmt.Sprintf("FTP_DATA_PORTS_FIRST=%d", 20000+cmdPort%10000), "FTP_DATA_PORTS_COUNT=5",
		fmt.Sprintf("HEALTHCHECK_PORT=%d", freePort(t)), fmt.Sprintf("FTP_HTTP_ADDR=127.0.0.1:%d", httpPort), "SFTP_PORT=off"}
	out := &testenv.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, env, out) }()
	defer func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("gateway output:\n%s", out.String())
		}
	}()
	addr := fmt.Sprintf("127.0.0.1:%d", cmdPort)
	login := func(user, pass string) (*ftp.ServerConn, error) {
		c, err := ftp.Dial(addr, ftp.DialWithTLS(&tls.Config{InsecureSkipVerify: true, ServerName: "ftps3", //nolint:gosec // test certificate
			ClientSessionCache: tls.NewLRUClientSessionCache(4)}), ftp.DialWithTimeout(5*time.Second))
		if err != nil {
			return nil, err
		}
		if err := c.Login(user, pass); err != nil {
			c.Quit()
			return nil, err
		}
		return c, nil
	}
	// eventually waits for a reload to take effect (the interval is 1 s).
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); !ok(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after 15 s", what)
			}
		}
	}
	canLogIn := func(user, pass string) bool {
		c, err := login(user, pass)
		if err == nil {
			c.Quit()
		}
		return err == nil
	}
	eventually("gateway up", func() bool { return canLogIn("alice", "one") })
	alice, err := login("alice", "one")
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Quit()
	bob, err := login("bob", "two")
	if err != nil {
		t.Fatal(err)
	}

	write(`[{"login":"alice","password":"new"},{"login":"bob","password":"two"},{"login":"carol","password":"three"}]`)
	eventually("carol added", func() bool { return canLogIn("carol", "three") })
	if canLogIn("alice", "one") || !canLogIn("alice", "new") {
		t.Error("alice's old password still works, or the new one does not")
	}
	if err := alice.NoOp(); err != nil {
		t.Errorf("alice's session did not survive her password change: %v", err)
	}

	write(`[{"login":"alice","password":`) // a broken save: nothing changes
	eventually("broken file rejected", func() bool { return strings.Contains(out.String(), "users not reloaded") })
	if !canLogIn("carol", "three") || !canLogIn("alice", "new") {
		t.Error("a broken file changed the users")
	}

	// Bob is uploading when he is removed.
	pr, pw := io.Pipe()
	stored := make(chan error, 1)
	go func() { stored <- bob.Stor("bob.bin", pr) }()
	pw.Write(make([]byte, 64<<10))
	write(`[{"login":"alice","password":"new"},{"login":"carol","password":"three"}]`)
	eventually("bob's session closed", func() bool { return strings.Contains(out.String(), "closing the session of a removed user") })
	pw.Close() // bob's client finishes sending: too late, the session is gone
	if err := <-stored; err == nil {
		t.Error("the upload of a removed user was stored")
	}
	if canLogIn("bob", "two") {
		t.Error("a removed user logs in")
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "bob.bin")); !os.IsNotExist(err) {
		t.Errorf("the removed user's upload left a file: %v", err)
	}
	if err := alice.NoOp(); err != nil {
		t.Errorf("another user's session was closed: %v", err)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"ftps3_users_loaded 2", `ftps3_users_reloads_total{result="rejected"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// `ftps3 hash-password` reads the password from stdin (not a terminal
// here) and prints a bcrypt hash that the user list accepts.
func TestHashPassword(t *testing.T) {
	in, err := os.CreateTemp(t.TempDir(), "stdin")
	if err != nil {
		t.Fatal(err)
	}
	in.WriteString("correct horse\n")
	in.Seek(0, 0)
	var out, errOut strings.Builder
	if code := hashPassword(in, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	hash := strings.TrimSpace(out.String())
	users, err := auth.ParseUserList([]byte(`[{"login":"u","password_hashed":"` + hash + `"}]`))
	if err != nil || !users[0].Password.Verify("correct horse") || users[0].Password.Verify("correct horsE") {
		t.Fatalf("hash %q: %v", hash, err)
	}
}

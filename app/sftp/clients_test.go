package sftp_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ftps3/ftps3/internal/testenv"

	"github.com/ftps3/ftps3/app/storage/s3store"
)

// Real clients: OpenSSH's sftp in batch mode and Python's paramiko, with
// keys and passwords, against S3 (MinIO).

// sizes of the files the real clients move: 0 B, 1 B, 5 MiB ± 1.
var clientSizes = []int{0, 1, 5<<20 - 1, 5 << 20, 5<<20 + 1}

func writeFiles(t *testing.T, dir string, sizes []int) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, n := range sizes {
		name := fmt.Sprintf("up-%d", n)
		data := randomData(n)
		must(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
		files[name] = data
	}
	return files
}

// sftpCmd runs OpenSSH's sftp with a batch file; auth is "key" (the key
// file) or "password" (given through SSH_ASKPASS).
func (g *gateway) sftpCmd(t *testing.T, user, keyFile, password, batch, dir string) (string, error) {
	t.Helper()
	out, err := g.sftpExec(t, user, keyFile, password, batch, dir).CombinedOutput()
	return string(out), err
}

// sftpExec is the command sftpCmd runs; extra are more sftp options.
func (g *gateway) sftpExec(t *testing.T, user, keyFile, password, batch, dir string, extra ...string) *exec.Cmd {
	t.Helper()
	bin, _ := exec.LookPath("sftp")
	testenv.Require(t, "OpenSSH sftp (apt-get install openssh-client)", bin)
	batchFile := filepath.Join(t.TempDir(), "batch")
	must(t, os.WriteFile(batchFile, []byte(batch), 0o644))
	args := []string{"-F", "/dev/null", "-P", itoa(g.port),
		"-o", "UserKnownHostsFile=" + g.knownHost, "-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=30"}
	env := os.Environ()
	if keyFile != "" {
		args = append(args, "-i", keyFile, "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no")
	} else {
		askpass := filepath.Join(t.TempDir(), "askpass")
		must(t, os.WriteFile(askpass, []byte("#!/bin/sh\nprintf '%s\\n' '"+password+"'\n"), 0o700))
		args = append(args, "-o", "PubkeyAuthentication=no", "-o", "NumberOfPasswordPrompts=1")
		env = append(env, "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=")
	}
	// -b turns on BatchMode, which disables passwords: with a password
	// the commands come on standard input instead (sftp then goes on after
	// a failed command, so callers read the output).
	var stdin io.Reader
	if keyFile != "" {
		args = append(args, "-b", batchFile)
	} else {
		stdin = strings.NewReader(batch)
	}
	args = append(args, extra...)
	args = append(args, user+"@127.0.0.1")
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Env, cmd.Stdin = dir, env, stdin
	return cmd
}

func TestOpenSSHBatch(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	dir := t.TempDir()
	files := writeFiles(t, dir, append(clientSizes, 100<<20))
	var b strings.Builder
	b.WriteString("mkdir up\ncd up\n")
	for name := range files {
		fmt.Fprintf(&b, "put %s\nget %s back-%s\n", name, name, name)
	}
	b.WriteString("mkdir d\nrename up-1 d/one\nls -l\nls d\nrm d/one\nrmdir d\n-rmdir nonexistent\nls\n")
	out, err := g.sftpCmd(t, alice, g.aliceKey.file, "", b.String(), dir)
	if err != nil {
		t.Fatalf("sftp: %v\n%s", err, out)
	}
	for name, data := range files {
		if name == "up-1" {
			g.mustNotExist(t, "up/up-1")
		} else {
			g.mustHave(t, "up/"+name, data)
		}
		got, err := os.ReadFile(filepath.Join(dir, "back-"+name))
		must(t, err)
		if !bytes.Equal(got, data) {
			t.Errorf("%s: downloaded %d bytes, want %d (or content differs)", name, len(got), len(data))
		}
	}
	if !strings.Contains(out, "d/one") || !strings.Contains(out, "up-5242880") {
		t.Errorf("listing: %s", out)
	}
	g.mustNotExist(t, "up/d/")
	g.noIncompleteUploads(t)

	// Password login, and a wrong password and a wrong key refused.
	out, err = g.sftpCmd(t, alice, "", alicePass, "ls\n", dir)
	if err != nil || !strings.Contains(out, "up") {
		t.Errorf("password login: %v\n%s", err, out)
	}
	if out, err := g.sftpCmd(t, alice, "", "wrong", "ls\n", dir); err == nil {
		t.Errorf("wrong password accepted:\n%s", out)
	}
	if out, err := g.sftpCmd(t, alice, g.bobKey.file, "", "ls\n", dir); err == nil {
		t.Errorf("bob's key accepted for alice:\n%s", out)
	}
	// The read-only user: get works, put is refused.
	out, err = g.sftpCmd(t, reader, "", readerPw, "get up/up-0 ro-back\nput up-0 x\n", dir)
	if !strings.Contains(out, "ermission denied") {
		t.Errorf("read-only put: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "ro-back")); err != nil {
		t.Errorf("read-only get: %v", err)
	}
	g.mustNotExist(t, "x")
}

// paramikoPython finds a python3 that has paramiko (Debian's python3-paramiko
// is for the system interpreter, which may not be the first python3).
func paramikoPython(t *testing.T) string {
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if p, err := exec.LookPath(py); err == nil && exec.Command(p, "-c", "import paramiko").Run() == nil {
			return p
		}
	}
	testenv.Require(t, "python3 with paramiko (apt-get install python3-paramiko)", "")
	return ""
}

func TestParamiko(t *testing.T) {
	py := paramikoPython(t)
	g := startGateway(t, gatewayOptions{})
	for _, auth := range []string{"password", "key"} {
		t.Run(auth, func(t *testing.T) {
			dir := t.TempDir()
			files := writeFiles(t, dir, clientSizes)
			user, secret := alice, alicePass
			if auth == "key" {
				user, secret = keyOnly, g.bobKey.file
			}
			cmd := exec.Command(py, "testdata/paramiko_session.py", "127.0.0.1", itoa(g.port), user, auth, secret, g.knownHost, dir)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "OK") {
				t.Fatalf("paramiko: %v\n%s", err, out)
			}
			prefix := "py/"
			if auth == "key" {
				prefix = "partners/bob/py/"
			}
			for name, data := range files {
				if name == "up-1" {
					continue // renamed and removed
				}
				g.mustHave(t, prefix+name, data)
			}
		})
	}
	g.noIncompleteUploads(t)
}

// OpenSSH puts small files into a directory one by one, stat'ing the
// directory before each: the stat is answered from what the session just
// saw, so each file costs two S3 requests (the check before it, the PUT),
// not six. Every file arrives byte-exact.
func TestOpenSSHManySmallFiles(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	dir := t.TempDir()
	var batch strings.Builder
	batch.WriteString("mkdir in\n")
	want := map[string][]byte{}
	const files = 30
	for i := range files {
		name := fmt.Sprintf("s%02d.dat", i)
		want[name] = randomData(1000 + i)
		must(t, os.WriteFile(filepath.Join(dir, name), want[name], 0o644))
		fmt.Fprintf(&batch, "put %s in/\n", name)
	}
	before := totalRequests(g.s3)
	if out, err := g.sftpCmd(t, alice, g.aliceKey.file, "", batch.String(), dir); err != nil {
		t.Fatalf("sftp: %v\n%s", err, out)
	}
	perFile := float64(totalRequests(g.s3)-before) / files
	for name, data := range want {
		g.mustHave(t, "in/"+name, data)
	}
	if perFile > 2.2 { // the mkdir and the first stat of the directory are spread over the files
		t.Errorf("%.2f S3 requests per file, want 2 (%v)", perFile, g.s3.Requests())
	}
	t.Logf("%.2f S3 requests per file", perFile)
}

func totalRequests(s *s3store.Store) int64 {
	var n int64
	for _, r := range s.Requests() {
		n += r.Requests
	}
	return n
}

package sftp_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"  //nolint:gosec // the checksums clients ask for
	"crypto/sha1" //nolint:gosec // idem
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	gw "github.com/ftps3/ftps3/app/sftp"
	"github.com/ftps3/ftps3/app/storage"
	"github.com/ftps3/ftps3/app/storage/digest"
	"github.com/ftps3/ftps3/internal/testenv"
)

// The checksum commands: md5sum, sha1sum and sha256sum over exec, answered
// from the digests recorded at upload, as rclone and scripts use them.

func md5hex(b []byte) string    { s := md5.Sum(b); return hex.EncodeToString(s[:]) }  //nolint:gosec // test
func sha1hex(b []byte) string   { s := sha1.Sum(b); return hex.EncodeToString(s[:]) } //nolint:gosec // test
func sha256hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// run is one exec request's outcome.
type run struct {
	stdout, stderr string
	status         int
}

// exec runs a command line on a new session of conn, with stdin.
func execOn(t *testing.T, conn *ssh.Client, line string, stdin []byte) run {
	t.Helper()
	s, err := conn.NewSession()
	must(t, err)
	defer s.Close()
	var out, errOut bytes.Buffer
	s.Stdout, s.Stderr, s.Stdin = &out, &errOut, bytes.NewReader(stdin)
	err = s.Run(line)
	r := run{stdout: out.String(), stderr: errOut.String()}
	var exit *ssh.ExitError
	switch {
	case errors.As(err, &exit):
		r.status = exit.ExitStatus()
	case err != nil:
		t.Fatalf("%q: %v", line, err)
	}
	return r
}

func TestChecksumCommands(t *testing.T) {
	g := startGateway(t, gatewayOptions{checksums: digest.All})
	files := map[string][]byte{
		"a": randomData(1000), "b c": randomData(10), "e": randomData(6<<20 + 3), // multipart
		"d/x": randomData(1), `back\slash`: randomData(5), "empty": {},
	}
	c := g.alice(t)
	must(t, c.Mkdir("d"))
	for name, data := range files {
		put(t, c, name, data)
	}
	conn, err := g.sshDial(alice, ssh.PublicKeys(g.aliceKey.signer))
	must(t, err)
	defer conn.Close()

	t.Run("files", func(t *testing.T) {
		r := execOn(t, conn, `sha256sum a "b c" d/../e /d/x 'empty'`, nil)
		want := sha256hex(files["a"]) + "  a\n" + sha256hex(files["b c"]) + "  b c\n" + sha256hex(files["e"]) + "  d/../e\n" +
			sha256hex(files["d/x"]) + "  /d/x\n" + sha256hex(nil) + "  empty\n"
		if r.status != 0 || r.stdout != want || r.stderr != "" {
			t.Errorf("sha256sum: %+v, want stdout\n%s", r, want)
		}
		for cmd, sum := range map[string]string{"md5sum": md5hex(files["e"]), "sha1sum": sha1hex(files["e"])} {
			if r := execOn(t, conn, cmd+` b\ c/../e`, nil); r.status != 0 || r.stdout != sum+"  b c/../e\n" {
				t.Errorf("%s: %+v, want %s", cmd, r, sum)
			}
		}
		// coreutils escapes a name with a backslash and marks the line;
		// rclone escapes the path with backslashes.
		r = execOn(t, conn, `md5sum back\\slash`, nil)
		if want := `\` + md5hex(files[`back\slash`]) + `  back\\slash` + "\n"; r.status != 0 || r.stdout != want {
			t.Errorf("md5sum of a name with a backslash: %+v, want %q", r, want)
		}
	})

	t.Run("failures", func(t *testing.T) {
		// A file stored by another program: no digest was recorded.
		_, err := g.minio.Client(t).PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: aws.String(g.bucket), Key: aws.String("raw"), Body: bytes.NewReader([]byte("not through the gateway"))})
		must(t, err)
		r := execOn(t, conn, "sha1sum a missing d raw / ''", nil)
		wantErr := "sha1sum: missing: No such file or directory\n" + "sha1sum: d: Is a directory\n" +
			"sha1sum: raw: no checksum recorded (SHA-1 was not computed when the file was uploaded)\n" +
			"sha1sum: /: Is a directory\n" + "sha1sum: : No such file or directory\n"
		if r.status != 1 || r.stdout != sha1hex(files["a"])+"  a\n" || r.stderr != wantErr {
			t.Errorf("sha1sum with failures: %+v\nwant stderr\n%s", r, wantErr)
		}
		// ".." does not leave the home: bob's "/" is partners/bob/.
		put(t, g.dial(t, keyOnly, ssh.PublicKeys(g.bobKey.signer)), "mine", files["a"])
		bob, err := g.sshDial(keyOnly, ssh.PublicKeys(g.bobKey.signer))
		must(t, err)
		defer bob.Close()
		r = execOn(t, bob, "md5sum ../../a ../mine /../../a", nil)
		if r.status != 1 || r.stdout != md5hex(files["a"])+"  ../mine\n" ||
			r.stderr != "md5sum: ../../a: No such file or directory\nmd5sum: /../../a: No such file or directory\n" {
			t.Errorf("bob reached out of his home: %+v", r)
		}
	})

	t.Run("stdin", func(t *testing.T) {
		// What rclone sends to find the command: nothing on standard input.
		if r := execOn(t, conn, "md5sum", nil); r.status != 0 || r.stdout != md5hex(nil)+"  -\n" {
			t.Errorf("md5sum of no input: %+v", r)
		}
		in := randomData(100 << 10)
		if r := execOn(t, conn, "sha256sum -", in); r.status != 0 || r.stdout != sha256hex(in)+"  -\n" {
			t.Errorf("sha256sum of standard input: %+v", r)
		}
		if r := execOn(t, conn, "sha1sum - a -", in); r.status != 0 ||
			r.stdout != sha1hex(in)+"  -\n"+sha1hex(files["a"])+"  a\n"+sha1hex(nil)+"  -\n" {
			t.Errorf("sha1sum of standard input twice: %+v", r)
		}
		r := execOn(t, conn, "md5sum", randomData(1<<20+1))
		if r.status != 1 || r.stdout != "" || !strings.Contains(r.stderr, "md5sum: -: standard input is larger than") {
			t.Errorf("md5sum of too large an input: %+v", r)
		}
	})

	t.Run("refused", func(t *testing.T) {
		refused := g.metrics.CommandsRefused.Load()
		for _, tc := range []struct {
			line   string
			status int
			says   string
		}{
			{"rm -rf /", 127, "ftps3: rm: command not found"},
			{"cat a", 127, "ftps3: cat: command not found"},
			{"md5sum a; id", 127, `';' (a shell operator) is not supported`},
			{"md5sum a\nid", 127, "a second command"},
			{"md5sum a && rm a", 127, `'&' (a shell operator)`},
			{"md5sum a | sh", 127, `'|' (a shell operator)`},
			{"md5sum a > x", 127, `'>' (a shell operator)`},
			{"md5sum $(id)", 127, `'$' (an expansion)`},
			{"md5sum `id`", 127, "'`' (an expansion)"},
			{`md5sum "$HOME"`, 127, `'$' in double quotes`},
			{"md5sum *", 127, `'*' (a file name pattern)`},
			{"md5sum {a,e}", 127, "brace expansion"},
			{"md5sum ~/a", 127, "'~' at the start of a word"},
			{"md5sum 'a", 127, "a single quote is not closed"},
			{"echo ${ShellId}%ComSpec%", 127, "'$' (an expansion)"}, // rclone: an error means a Unix shell
			{"", 127, "no command"},
			{"sha256sum -c x", 1, "sha256sum: -c: options are not supported"},
			{"md5sum --check a", 1, "md5sum: --check: options are not supported"},
		} {
			r := execOn(t, conn, tc.line, nil)
			if r.status != tc.status || r.stdout != "" || !strings.Contains(r.stderr, tc.says) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("%q: %+v, want status %d and %q", tc.line, r, tc.status, tc.says)
			}
		}
		if n := g.metrics.CommandsRefused.Load() - refused; n != 18 {
			t.Errorf("%d refusals counted, want 18", n)
		}
		// Nothing ran; the files are there, and the connection still
		// serves SFTP.
		g.mustHave(t, "a", files["a"])
		g.mustNotExist(t, "x")
		sc, err := sftp.NewClient(conn)
		must(t, err)
		defer sc.Close()
		if fi, err := sc.Stat("e"); err != nil || fi.Size() != int64(len(files["e"])) {
			t.Errorf("SFTP after the refused commands: %v %v", fi, err)
		}
		// "--" ends the options, as in coreutils.
		if r := execOn(t, conn, "md5sum -- a", nil); r.status != 0 || r.stdout != md5hex(files["a"])+"  a\n" {
			t.Errorf("md5sum -- a: %+v", r)
		}
	})

	// Every checksum is a log record naming the user, command, path and
	// result.
	logs := g.logs.String()
	for _, want := range []string{
		`user=alice protocol=sftp command=sha256sum path="/b c" result=ok`,
		`user=alice protocol=sftp command=sha256sum path=/e result=ok`, // d/../e
		`user=alice protocol=sftp command=sha1sum path=/missing result="No such file or directory"`,
		`user=alice protocol=sftp command="rm -rf /" status=127`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	var metrics bytes.Buffer
	g.metrics.WritePrometheus(&metrics)
	if !regexp.MustCompile(`ftps3_sftp_checksum_commands_total\{result="ok"\} [1-9]`).Match(metrics.Bytes()) {
		t.Errorf("metrics:\n%s", metrics.String())
	}
}

// A store that fails: the client hears that it did, the details (keys,
// request ids) go to the log only.
func TestChecksumStoreFailure(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file", checksums: digest.All,
		wrapStore: func(s storage.Store) storage.Store { return failingSums{s} }})
	put(t, g.alice(t), "a", []byte("a"))
	conn, err := g.sshDial(alice, ssh.Password(alicePass))
	must(t, err)
	defer conn.Close()
	r := execOn(t, conn, "sha256sum a", nil)
	if r.status != 1 || r.stdout != "" || r.stderr != "sha256sum: a: the storage service failed; try again\n" {
		t.Errorf("sha256sum with the store failing: %+v", r)
	}
	if !strings.Contains(g.logs.String(), "req-4242") {
		t.Error("the store's error is not logged")
	}
	if g.metrics.CommandsFailed.Load() != 1 {
		t.Error("the failed command is not counted")
	}
}

type failingSums struct{ storage.Store }

func (failingSums) Sums(context.Context, string) (digest.Sums, error) {
	return nil, errors.New("GetObjectTagging home/a: AccessDenied, request id req-4242")
}

// The command line is split into words as a POSIX shell does.
func TestShellWords(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []string // nil: refused
	}{
		{"md5sum a", []string{"md5sum", "a"}},
		{"  md5sum\t a  b ", []string{"md5sum", "a", "b"}},
		{`md5sum 'b c' "d e" f\ g`, []string{"md5sum", "b c", "d e", "f g"}},
		{`md5sum '' ""`, []string{"md5sum", "", ""}},
		{`md5sum 'it'\''s' "say \"hi\" \\ \$ \a"`, []string{"md5sum", "it's", `say "hi" \ $ \a`}},
		{`md5sum a'b'"c"d`, []string{"md5sum", "abcd"}},
		{"md5sum a\\\nb", []string{"md5sum", "ab"}},   // a line continuation
		{"md5sum 'a\nb'", []string{"md5sum", "a\nb"}}, // rclone quotes a newline so
		{`md5sum \;\|\&\$\*\~`, []string{"md5sum", ";|&$*~"}},
		{"md5sum a#b c~ x=y", []string{"md5sum", "a#b", "c~", "x=y"}},
		{"md5sum '$(id)' \"*\"", []string{"md5sum", "$(id)", "*"}},
		{"md5sum café", []string{"md5sum", "café"}},
		{"md5sum a #comment", nil},
		{"md5sum a;", nil},
		{"md5sum <a", nil},
		{"md5sum (a)", nil},
		{"md5sum a?", nil},
		{"md5sum [ab]", nil},
		{"md5sum a}", nil},
		{`md5sum "a`, nil},
		{`md5sum a\`, nil},
		{"md5sum \"`id`\"", nil},
	} {
		got, err := gw.ShellWords(tc.line)
		if tc.want == nil {
			if err == nil {
				t.Errorf("%q accepted: %q", tc.line, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%q: %q, %v; want %q", tc.line, got, err, tc.want)
		}
	}
}

// rclone copies a directory to the gateway and checks it by MD5 (its
// md5sum and sha1sum commands), as a user would: rclone v1.60 and later.
func TestRclone(t *testing.T) {
	bin, _ := exec.LookPath("rclone")
	testenv.Require(t, "rclone (apt-get install rclone)", bin)
	g := startGateway(t, gatewayOptions{checksums: digest.All})
	local := t.TempDir()
	files := map[string][]byte{
		"empty": {}, "small.txt": []byte("hello, checksums\n"), "big.bin": randomData(6<<20 + 7), // multipart
		`sub dir/it's "odd" $name\.txt`: randomData(1000), "sub dir/café": randomData(3),
	}
	for name, data := range files {
		p := filepath.Join(local, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, data, 0o644))
	}
	rc := g.rcloneRemotes(t, bin)

	// The first use finds the shell ("unix": the gateway's refusal of
	// `echo ${ShellId}%ComSpec%`) and the hash commands (md5sum and
	// sha1sum of no input); rclone saves them in its config file.
	out := rc.run(t, "copy", local, "gw:up", "-vv")
	for _, want := range []string{`Shell type "unix" detected`, "Running remote command: md5sum\n",
		"Running remote command: sha1sum\n", `Setting hash command for md5 to "md5sum"`, `Setting hash command for sha1 to "sha1sum"`} {
		if !strings.Contains(out, want) {
			t.Errorf("rclone copy does not say %q:\n%s", want, out)
		}
	}
	out = rc.run(t, "check", local, "gw:up", "-v")
	for _, want := range []string{"Using md5 for hash comparisons", ": 0 differences found", ": 5 matching files"} {
		if !strings.Contains(out, want) {
			t.Errorf("rclone check does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hashes could not be checked") {
		t.Errorf("rclone check fell back to sizes:\n%s", out)
	}
	t.Logf("rclone check:\n%s", grepLines(out, "NOTICE", "Using md5"))
	// A local change of the same size is found by its MD5 alone.
	changed := bytes.ToUpper(files["small.txt"])
	must(t, os.WriteFile(filepath.Join(local, "small.txt"), changed, 0o644))
	if out, err := rc.try("check", local, "gw:up"); err == nil || !strings.Contains(out, "small.txt: md5 differ") ||
		!strings.Contains(out, ": 1 differences found") {
		t.Errorf("rclone check missed a changed file (%v):\n%s", err, out)
	}
	must(t, os.WriteFile(filepath.Join(local, "small.txt"), files["small.txt"], 0o644))

	for cmd, sum := range map[string]func([]byte) string{"md5sum": md5hex, "sha1sum": sha1hex} {
		out := rc.run(t, cmd, "gwpw:up") // with the password this time
		t.Logf("rclone %s:\n%s", cmd, out)
		got := map[string]string{}
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			if s, name, ok := strings.Cut(sc.Text(), "  "); ok {
				got[name] = s
			}
		}
		for name, data := range files {
			if got[name] != sum(data) {
				t.Errorf("rclone %s %s: %q, want %s", cmd, name, got[name], sum(data))
			}
		}
	}
	if !strings.Contains(g.logs.String(), `command=md5sum path="/up/sub dir/it's \"odd\" $name\\.txt" result=ok`) {
		t.Error("the gateway did not answer rclone's md5sum for the file with quotes")
	}
}

// With the default CHECKSUMS (SHA-256 only) the MD5 and SHA-1 commands are
// refused even on no input, so rclone (v1.60 asks for MD5 or SHA-1 after
// every upload, and takes no answer for a corrupted upload) falls back to
// sizes and its copies go through; sha256sum answers. With CHECKSUMS=off
// every checksum command is refused.
func TestChecksumsNotKept(t *testing.T) {
	bin, _ := exec.LookPath("rclone")
	testenv.Require(t, "rclone (apt-get install rclone)", bin)
	g := startGateway(t, gatewayOptions{checksums: []digest.Algorithm{digest.SHA256}})
	conn, err := g.sshDial(alice, ssh.Password(alicePass))
	must(t, err)
	defer conn.Close()
	for _, cmd := range []string{"md5sum", "sha1sum -"} {
		if r := execOn(t, conn, cmd, nil); r.status != 1 || r.stdout != "" || !strings.Contains(r.stderr, "checksums are not kept by this server (it keeps SHA-256)") {
			t.Errorf("%s: %+v", cmd, r)
		}
	}
	local := t.TempDir()
	data := randomData(6<<20 + 1)
	must(t, os.WriteFile(filepath.Join(local, "f.bin"), data, 0o644))
	rc := g.rcloneRemotes(t, bin)
	rc.run(t, "copy", local, "gw:")
	g.mustHave(t, "f.bin", data)
	if r := execOn(t, conn, "sha256sum f.bin", nil); r.status != 0 || r.stdout != sha256hex(data)+"  f.bin\n" {
		t.Errorf("sha256sum: %+v", r)
	}

	off := startGateway(t, gatewayOptions{backend: "file"})
	put(t, off.alice(t), "a", []byte("a"))
	conn, err = off.sshDial(alice, ssh.Password(alicePass))
	must(t, err)
	defer conn.Close()
	if r := execOn(t, conn, "sha256sum a", nil); r.status != 1 || r.stderr != "sha256sum: this server keeps no checksums\n" {
		t.Errorf("sha256sum with CHECKSUMS=off: %+v", r)
	}
}

// rclone is rclone with two remotes on the gateway, configured through the
// environment with a config file of its own: "gw" (alice's key; the shell
// and hash commands detected) and "gwpw" (her password; the hash commands
// set, as the README advises: rclone's detection races its own checkers on
// a remote's first use, which then see no hash).
type rclone struct {
	bin string
	env []string
}

func (g *gateway) rcloneRemotes(t *testing.T, bin string) rclone {
	t.Helper()
	obscured, err := exec.Command(bin, "obscure", alicePass).Output()
	must(t, err)
	env := []string{"RCLONE_CONFIG=" + filepath.Join(t.TempDir(), "rclone.conf"), "HOME=" + t.TempDir()}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RCLONE_") && !strings.HasPrefix(kv, "SSH_AUTH_SOCK=") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	for remote, own := range map[string][]string{
		"GW":   {"KEY_FILE=" + g.aliceKey.file},
		"GWPW": {"PASS=" + strings.TrimSpace(string(obscured)), "MD5SUM_COMMAND=md5sum", "SHA1SUM_COMMAND=sha1sum"},
	} {
		p := "RCLONE_CONFIG_" + remote + "_"
		env = append(env, p+"TYPE=sftp", p+"HOST=127.0.0.1", p+"PORT="+itoa(g.port), p+"USER="+alice,
			p+"KNOWN_HOSTS_FILE="+g.knownHost)
		for _, kv := range own {
			env = append(env, p+kv)
		}
	}
	return rclone{bin: bin, env: env}
}

func (r rclone) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := r.try(args...)
	if err != nil {
		t.Fatalf("rclone %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (r rclone) try(args ...string) (string, error) {
	cmd := exec.Command(r.bin, append(args, "--retries", "1", "--contimeout", "10s")...)
	cmd.Env = r.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// grepLines keeps the lines containing any of words.
func grepLines(s string, words ...string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				keep = append(keep, l)
				break
			}
		}
	}
	return strings.Join(keep, "\n")
}

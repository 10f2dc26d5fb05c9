package ftp_test

import (
	"strings"
	"testing"
)

// Bad input gets a clear reply and the session goes on.
func TestBadInputKeepsTheSession(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file"})
	c := dialRaw(t, g.addr, true)

	// Wrong password, unknown user: 530, and the client may try again.
	c.expect(331, "USER "+testUser)
	c.expect(530, "PASS wrong")
	c.expect(331, "USER mallory")
	c.expect(530, "PASS "+testPass)
	c.expect(530, "LIST") // not logged in
	c.login()

	c.expect(500, "FOOBAR")
	c.expect(500, "X"+strings.Repeat("a", 10000)) // overlong line
	c.expect(257, "PWD")
	for _, cmd := range []string{"MKD", "RMD", "DELE", "RNTO x"} {
		if code, msg := c.cmd(cmd); code < 500 {
			t.Errorf("%q: %s", cmd, msg)
		}
	}
	c.expect(550, "RETR")
	c.expect(503, "RNTO somewhere") // without RNFR

	// ".." cannot escape: the root's parent is the root.
	c.expect(250, "CWD ../../..")
	if msg := c.expect(257, "PWD"); !strings.Contains(msg, `"/"`) {
		t.Errorf("PWD after escape attempt: %s", msg)
	}
	c.expect(257, `MKD /a dir`)
	c.expect(250, "CWD /a dir/../../../a dir")
	c.expect(550, "RMD /")
	c.expect(350, "RNFR /")     // ftpserverlib only checks that it exists...
	c.expect(550, "RNTO /b")    // ...the rename itself is refused
	c.expect(550, "MKD /a dir") // exists
	c.expect(550, "CWD /missing")
	c.expect(550, "SIZE /missing")
	c.expect(550, "DELE /a dir") // a directory
	c.expect(550, "RETR /a dir")
	c.expect(536, "PROT C")
	c.expect(200, "PROT P")
	c.expect(200, "TYPE I")
	c.expect(200, "NOOP")
	c.expect(221, "QUIT")
	// The 19 error replies above are counted for /metrics.
	if n := g.metrics.ErrorReplies.Load(); n < 19 {
		t.Errorf("ftps3_command_errors_total = %d after 19 error replies", n)
	}
}

func TestDirectoryRules(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			g := startGateway(t, gatewayOptions{backend: backend})
			c := g.dial(t)
			must(t, c.MakeDir("d"))
			must(t, c.Stor("d/f", strings.NewReader("x")))
			if err := c.Stor("missing/f", strings.NewReader("x")); err == nil {
				t.Error("STOR into a missing directory succeeded")
			}
			if err := c.MakeDir("missing/sub"); err == nil {
				t.Error("MKD with a missing parent succeeded")
			}
			if err := c.RemoveDir("d"); err == nil {
				t.Error("RMD of a non-empty directory succeeded")
			}
			if err := c.Stor("d", strings.NewReader("x")); err == nil {
				t.Error("STOR onto a directory succeeded")
			}
			must(t, c.MakeDir("e"))
			if err := c.Rename("d/f", "e"); err == nil {
				t.Error("rename of a file onto a directory succeeded")
			}
			if err := c.Rename("d", "d/inside"); err == nil {
				t.Error("rename of a directory into itself succeeded")
			}
			if err := c.Rename("d/f", "nowhere/f"); err == nil {
				t.Error("rename into a missing directory succeeded")
			}
			// Overwriting a file is allowed, as FTP clients expect.
			must(t, c.Stor("e/g", strings.NewReader("old")))
			must(t, c.Rename("d/f", "e/g"))
			if got := retr(t, c, "e/g"); string(got) != "x" {
				t.Errorf("after overwrite: %q", got)
			}
			// A directory that exists only because keys live under it.
			if g.minio != nil {
				u, _ := g.store.Create(t.Context(), "implicit/deep/k")
				u.Write([]byte("k"))
				must(t, u.Commit(t.Context()))
				must(t, c.ChangeDir("/implicit/deep"))
				must(t, c.ChangeDir("/"))
				if names, _ := c.NameList("/implicit"); len(names) != 1 || names[0] != "implicit/deep" {
					t.Errorf("NLST of an implicit directory: %v", names)
				}
			}
		})
	}
}

// The everyday commands clients send besides transfers.
func TestCommandsClientsUse(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	must(t, g.dial(t).MakeDir("/docs"))
	must(t, g.dial(t).Stor("/docs/a file.txt", strings.NewReader("12345")))
	c := dialRaw(t, g.addr, true)
	c.login()
	feat := c.expect(211, "FEAT")
	for _, f := range []string{"UTF8", "MLST", "EPSV", "SIZE", "MDTM", "REST STREAM"} {
		if !strings.Contains(feat, f) {
			t.Errorf("FEAT lacks %s:\n%s", f, feat)
		}
	}
	c.expect(200, "OPTS UTF8 ON")
	c.expect(215, "SYST")
	c.expect(250, "CWD /docs")
	c.expect(213, "SIZE a file.txt")
	if msg := c.expect(213, "MDTM a file.txt"); len(strings.TrimPrefix(msg, "213 ")) != 14 {
		t.Errorf("MDTM: %q", msg)
	}
	if msg := c.expect(250, "MLST a file.txt"); !strings.Contains(msg, "Type=file;Size=5;") {
		t.Errorf("MLST file: %q", msg)
	}
	if msg := c.expect(250, "MLST /docs"); !strings.Contains(msg, "Type=dir;") {
		t.Errorf("MLST dir: %q", msg)
	}
	c.expect(250, "CDUP")
	if msg := c.expect(257, "PWD"); !strings.Contains(msg, `"/"`) {
		t.Errorf("PWD after CDUP: %q", msg)
	}
	if code, msg := c.cmd("STAT"); code != 211 && code != 213 {
		t.Errorf("STAT: %q", msg)
	}
	c.expect(200, "TYPE A")
	c.expect(213, "SIZE /docs/a file.txt") // bytes are stored as sent, so SIZE holds in ASCII mode too
	c.expect(200, "MODE S")
}

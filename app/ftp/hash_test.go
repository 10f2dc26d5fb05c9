package ftp_test

import (
	"bytes"
	"context"
	"crypto/md5"  //nolint:gosec // what clients ask for
	"crypto/sha1" //nolint:gosec // idem
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jlaffaye/ftp"

	"github.com/ftps3/ftps3/app/auth"
	"github.com/ftps3/ftps3/app/storage"
	"github.com/ftps3/ftps3/app/storage/digest"
)

// Checksums over FTP: a user uploads files, then proves they arrived intact
// without downloading them, with HASH (FileZilla's way) and XSHA256, XSHA1,
// XMD5, MD5 (WinSCP's), each answered from the digests recorded at upload.
// Every expected digest is computed here from the bytes sent.

func hexOf(h func() hash.Hash, data []byte) string {
	x := h()
	x.Write(data)
	return hex.EncodeToString(x.Sum(nil))
}

var (
	sha256Of = func(b []byte) string { return hexOf(sha256.New, b) }
	sha1Of   = func(b []byte) string { return hexOf(sha1.New, b) }
	md5Of    = func(b []byte) string { return hexOf(md5.New, b) }
)

// Python's ftplib over explicit TLS, sending the commands with sendcmd.
func TestHashPythonFtplib(t *testing.T) {
	needTool(t, "python3")
	g := startGateway(t, gatewayOptions{checksums: digest.All})
	out, err := run(t, "python3", "testdata/ftplib_hash.py", "127.0.0.1", fmt.Sprint(g.port), testUser, testPass)
	if err != nil || !strings.Contains(out, "HASH OK") {
		t.Fatalf("ftplib: %v\n%s", err, out)
	}
	t.Logf("ftplib:\n%s", out)
	g.noIncompleteUploads(t)
}

// The Go client uploads; the same session's commands, raw, over implicit TLS.
func TestHashGoClient(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			g := startGateway(t, gatewayOptions{backend: backend, checksums: digest.All})
			files := map[string][]byte{
				"empty.bin":      nil,
				`notes "q" 2024`: randomData(1000), // ends like a range: still a name for HASH
				"big.bin":        randomData(6<<20 + 7),
			}
			up := g.dial(t)
			must(t, up.MakeDir("reports"))
			for name, data := range files {
				must(t, up.Stor("reports/"+name, bytes.NewReader(data)))
			}

			c := dialRaw(t, g.addr, true)
			c.login()
			feat := c.expect(211, "FEAT")
			if !strings.Contains(feat, "\n HASH SHA-256*;SHA-1;MD5\n") || strings.Contains(feat, "XCRC") || strings.Contains(feat, "SHA-512") {
				t.Errorf("FEAT:\n%s", feat)
			}
			if msg := c.expect(200, "OPTS HASH"); msg != "200 SHA-256" {
				t.Errorf("OPTS HASH: %q", msg)
			}
			c.expect(250, "CWD reports")
			for name, data := range files {
				want := fmt.Sprintf("213 SHA-256 0-%d %s %s", len(data), sha256Of(data), name)
				if msg := c.expect(213, "HASH "+name); msg != want {
					t.Errorf("HASH %s:\n got %q\nwant %q", name, msg, want)
				}
				for _, x := range []struct {
					cmd string
					sum func([]byte) string
				}{{"XSHA256", sha256Of}, {"XSHA1", sha1Of}, {"XSHA", sha1Of}, {"XMD5", md5Of}, {"MD5", md5Of}} {
					if msg := c.expect(250, x.cmd+" "+name); msg != "250 "+x.sum(data) {
						t.Errorf("%s %s: %q", x.cmd, name, msg)
					}
				}
			}
			// An absolute path, and the algorithm named in lower case.
			big := files["big.bin"]
			if msg := c.expect(200, "OPTS HASH sha-1"); msg != "200 SHA-1" {
				t.Errorf("OPTS HASH sha-1: %q", msg)
			}
			if msg, want := c.expect(213, "HASH /reports/big.bin"), fmt.Sprintf("213 SHA-1 0-%d %s /reports/big.bin", len(big), sha1Of(big)); msg != want {
				t.Errorf("HASH after OPTS HASH sha-1:\n got %q\nwant %q", msg, want)
			}
			// The transfer log names the digests of each upload.
			logs := g.logs.String()
			for _, want := range []string{"sha256=" + sha256Of(big), "sha1=" + sha1Of(big), "md5=" + md5Of(big), "sha256=" + sha256Of(nil)} {
				if !strings.Contains(logs, want) {
					t.Errorf("the upload log lacks %s", want)
				}
			}
			g.noIncompleteUploads(t)
		})
	}
}

// dialAs logs the Go client in as another user.
func (g *gateway) dialAs(t *testing.T, login, password string) *ftp.ServerConn {
	t.Helper()
	c, err := ftp.Dial(g.addr, ftp.DialWithTLS(clientTLS(0)), ftp.DialWithTimeout(10*time.Second))
	must(t, err)
	must(t, c.Login(login, password))
	t.Cleanup(func() { c.Quit() })
	return c
}

// What cannot be answered is refused with the reason, the session goes on,
// and no reply shows the key prefix or the bucket.
func TestHashErrors(t *testing.T) {
	g := startGateway(t, gatewayOptions{checksums: digest.All, users: []auth.User{
		{Login: testUser, Password: auth.Plain(testPass), Home: "alice/"},
		{Login: "bob", Password: auth.Plain("bob's password")},
	}})
	secret := randomData(300)
	must(t, g.dialAs(t, "bob", "bob's password").Stor("secret.bin", bytes.NewReader(secret)))
	data := randomData(100)
	up := g.dial(t)
	must(t, up.Stor("f.bin", bytes.NewReader(data)))
	must(t, up.MakeDir("d"))
	// Written to the bucket by another program: no checksum recorded.
	_, err := g.minio.Client(t).PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(g.bucket), Key: aws.String("alice/raw.bin"), Body: bytes.NewReader([]byte("raw bytes")),
	})
	must(t, err)

	c := dialRaw(t, g.addr, true)
	c.login()
	for _, x := range []struct {
		cmd  string
		code int
		says string
	}{
		{"XSHA256 f.bin 10 20", 504, "checksums are of whole files only: ranges are not supported"},
		{"XSHA256 f.bin 0 50", 504, "whole files only"},
		{"XSHA256 f.bin 0 100", 250, sha256Of(data)}, // the whole file, as a range
		{"XCRC f.bin", 502, "CRC32 checksums are not recorded"},
		{"XSHA512 f.bin", 502, "SHA-512 checksums are not recorded"},
		{"OPTS HASH SHA-512", 501, "current selection not changed"},
		{"OPTS HASH CRC32", 501, "current selection not changed"},
		{"OPTS HASH BLAKE3", 501, "current selection not changed"},
		{"OPTS HASH", 200, "SHA-256"},
		{"HASH d", 553, "553 d is a directory: checksums are of files only"},
		{"XSHA1 d", 553, "is a directory"},
		{"HASH missing.bin", 550, "missing.bin"},
		{"HASH raw.bin", 550, "no checksum of this kind is recorded for this file (SHA-256)"},
		{"XMD5 raw.bin", 550, "no checksum of this kind is recorded for this file (MD5)"},
		{"HASH ../secret.bin", 550, "secret.bin"},
		{"HASH /../../secret.bin", 550, "secret.bin"},
		{"XSHA256 d/../../secret.bin", 550, "secret.bin"},
		{"HASH", 501, "invalid HASH parameters"},
		{"HASH f.bin", 213, sha256Of(data)},
	} {
		code, msg := c.cmd(x.cmd)
		if code != x.code || !strings.Contains(msg, x.says) {
			t.Errorf("%s: %q, want %d saying %q", x.cmd, msg, x.code, x.says)
		}
		if strings.Count(msg, "\n") > 0 {
			t.Errorf("%s: a multi-line reply: %q", x.cmd, msg)
		}
		for _, internal := range []string{"alice/", g.bucket, sha256Of(secret)} {
			if strings.Contains(msg, internal) {
				t.Errorf("%s: the reply %q shows %q", x.cmd, msg, internal)
			}
		}
	}
	c.expect(200, "NOOP")

	// Only SHA-256 recorded (the default): SHA-1 and MD5 are not there.
	t.Run("sha256-only", func(t *testing.T) {
		g := startGateway(t, gatewayOptions{backend: "file", checksums: []digest.Algorithm{digest.SHA256}})
		data := randomData(10)
		must(t, g.dial(t).Stor("f.bin", bytes.NewReader(data)))
		c := dialRaw(t, g.addr, true)
		c.login()
		c.expect(200, "OPTS HASH MD5")
		if code, msg := c.cmd("HASH f.bin"); code != 550 || !strings.Contains(msg, "no checksum of this kind is recorded for this file (MD5)") {
			t.Errorf("HASH with MD5 not recorded: %q", msg)
		}
		if msg := c.expect(250, "XSHA256 f.bin"); msg != "250 "+sha256Of(data) {
			t.Errorf("XSHA256: %q", msg)
		}
	})
}

// A renamed file, and a file in a renamed directory, keep their checksums.
func TestHashKeptByRename(t *testing.T) {
	g := startGateway(t, gatewayOptions{checksums: digest.All})
	data := randomData(6<<20 + 1)
	up := g.dial(t)
	must(t, up.MakeDir("d1"))
	must(t, up.Stor("d1/a.bin", bytes.NewReader(data)))
	c := dialRaw(t, g.addr, true)
	c.login()
	check := func(name string) {
		t.Helper()
		want := fmt.Sprintf("213 SHA-256 0-%d %s %s", len(data), sha256Of(data), name)
		if msg := c.expect(213, "HASH "+name); msg != want {
			t.Errorf("HASH %s:\n got %q\nwant %q", name, msg, want)
		}
		if msg := c.expect(250, "XMD5 "+name); msg != "250 "+md5Of(data) {
			t.Errorf("XMD5 %s: %q", name, msg)
		}
	}
	check("d1/a.bin")
	c.expect(350, "RNFR d1/a.bin")
	c.expect(250, "RNTO d1/b.bin")
	check("d1/b.bin")
	c.expect(350, "RNFR d1")
	c.expect(250, "RNTO d2")
	check("d2/b.bin")
}

// sumsDown is a store whose checksum requests fail as S3 does when down.
type sumsDown struct{ storage.Store }

func (s sumsDown) Sums(_ context.Context, key string) (digest.Sums, error) {
	return nil, fmt.Errorf("operation error S3: GetObjectTagging, %s, RequestID: 7E1D: %w", key, storage.ErrUnavailable)
}

// The store unavailable while a checksum is read: 450, try again, nothing
// of the request shown.
func TestHashStoreUnavailable(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file", checksums: digest.All,
		users:     []auth.User{{Login: testUser, Password: auth.Plain(testPass), Home: "partners/acme/"}},
		wrapStore: func(s storage.Store) storage.Store { return sumsDown{s} }})
	must(t, g.dial(t).Stor("f.bin", bytes.NewReader(randomData(10))))
	c := dialRaw(t, g.addr, true)
	c.login()
	for _, cmd := range []string{"HASH f.bin", "XSHA256 f.bin"} {
		code, msg := c.cmd(cmd)
		if code != 450 || !strings.Contains(msg, "try again later") {
			t.Errorf("%s: %q, want 450", cmd, msg)
		}
		for _, internal := range []string{"partners/", "RequestID", "GetObjectTagging", "operation error"} {
			if strings.Contains(msg, internal) {
				t.Errorf("%s: the reply %q shows %q", cmd, msg, internal)
			}
		}
	}
	c.expect(200, "NOOP")
}

package ftp_test

import (
	"strings"
	"testing"

	"github.com/ftps3/ftps3/app/auth"
	"github.com/ftps3/ftps3/internal/testenv"
)

// Names that cannot be stored, or would forge lines in listings and
// replies, are refused with 553 before any data is read, and the session
// goes on.
func TestBadNamesAre553(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file", dirSuffix: "/.s3keep"})
	c := dialRaw(t, g.addr, true)
	c.login()
	c.expect(257, "MKD d")
	c.expect(257, "MKD d/ok")
	for _, name := range []string{"d/cr\rname", "d/\xff\xfe.bin", "d/.s3keep", "d/" + strings.Repeat("x", 1100)} {
		if code, msg := c.cmd("STOR " + name); code != 553 {
			t.Errorf("STOR %q: %s", name, msg)
		}
		if code, msg := c.cmd("MKD " + name); code != 553 {
			t.Errorf("MKD %q: %s", name, msg)
		}
		c.expect(350, "RNFR d/ok")
		if code, msg := c.cmd("RNTO " + name); code != 553 {
			t.Errorf("RNTO %q: %s", name, msg)
		}
	}
	c.expect(200, "NOOP")
	c.expect(250, "CWD d/ok")
}

// With S3 down, every command that needs it answers 4xx (try again later),
// and no reply carries the user's key prefix, the bucket, request ids or SDK
// operation names: the log has them.
func TestS3OutageAnswers4xxWithoutInternals(t *testing.T) {
	m := testenv.StartMinIO(t)
	g := startGateway(t, gatewayOptions{minio: m, users: []auth.User{{Login: testUser, Password: auth.Plain(testPass), Home: "partners/acme/"}}})
	c := dialRaw(t, g.addr, true)
	c.login()
	c.expect(257, "MKD d")
	c.expect(257, "MKD gone")
	m.Stop()
	for _, cmd := range []string{"CWD d", "SIZE f.txt", "MDTM f.txt", "DELE f.txt", "RNFR f.txt", "MKD new", "RMD gone", "RETR f.txt", "STOR f.txt", "LIST d", "HASH f.txt", "XSHA256 f.txt"} {
		if strings.HasPrefix(cmd, "RETR") || strings.HasPrefix(cmd, "STOR") || strings.HasPrefix(cmd, "LIST") {
			c.epsvPort()
		}
		code, msg := c.cmd(cmd)
		if code < 400 || code >= 500 {
			t.Errorf("%s with S3 down: %q, want 4xx", cmd, msg)
		}
		for _, internal := range []string{"partners/", g.bucket, "RequestID", "request id", "api error", "operation error", "HeadObject", "ListObjectsV2", "127.0.0.1:" + strings.Split(m.ClientOptions().Endpoint, ":")[2]} {
			if strings.Contains(msg, internal) {
				t.Errorf("%s: the reply %q shows %q", cmd, msg, internal)
			}
		}
	}
	c.expect(200, "NOOP")
	must(t, m.Start())
	c.expect(250, "CWD d")
}

package ftp_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ftps3/ftps3/app/auth"
)

func TestHomeAndReadOnly(t *testing.T) {
	g := startGateway(t, gatewayOptions{users: []auth.User{
		{Login: testUser, Password: auth.Plain(testPass), Home: "partners/acme/"},
		{Login: "auditor", Password: auth.Plain("look"), Home: "partners/", ReadOnly: true},
	}})
	c := g.dial(t)
	must(t, c.Stor("/report.csv", strings.NewReader("a,b\n")))
	must(t, c.ChangeDir("/../../.."))
	must(t, c.Stor("../escape.txt", strings.NewReader("x")))
	if _, err := g.object("partners/acme/report.csv"); err != nil {
		t.Errorf("upload not under the home prefix: %v", err)
	}
	if _, err := g.object("partners/acme/escape.txt"); err != nil {
		t.Errorf("'..' upload not kept in the home: %v", err)
	}
	if _, err := g.object("escape.txt"); err == nil {
		t.Error("'..' escaped the home prefix")
	}

	ro, err := ftp.Dial(g.addr, ftp.DialWithTLS(clientTLS(0)))
	must(t, err)
	defer ro.Quit()
	must(t, ro.Login("auditor", "look"))
	if got := retr(t, ro, "/acme/report.csv"); string(got) != "a,b\n" {
		t.Errorf("read-only user reads %q", got)
	}
	for name, err := range map[string]error{
		"STOR": ro.Stor("x", bytes.NewReader(nil)),
		"MKD":  ro.MakeDir("d"),
		"DELE": ro.Delete("/acme/report.csv"),
		"RN":   ro.Rename("/acme/report.csv", "/acme/y"),
		"RMD":  ro.RemoveDir("/acme"),
	} {
		if err == nil || !strings.Contains(err.Error(), "read-only") {
			t.Errorf("%s by a read-only user: %v", name, err)
		}
	}
}

// Failed logins lock out the address they come from, and a locked-out
// address is refused even with the right password.
func TestLoginThrottling(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file"})
	for i := 0; i < 50; i++ { // the harness allows 50 failures a minute
		c, err := ftp.Dial(g.addr, ftp.DialWithTLS(clientTLS(0)), ftp.DialWithTimeout(5*time.Second))
		must(t, err)
		if err := c.Login(testUser, "guess"); err == nil {
			t.Fatal("wrong password accepted")
		}
		c.Quit()
	}
	c, err := ftp.Dial(g.addr, ftp.DialWithTLS(clientTLS(0)))
	must(t, err)
	err = c.Login(testUser, testPass)
	if err == nil || !strings.Contains(err.Error(), "too many failed logins") {
		t.Fatalf("login from a locked-out address: %v", err)
	}
	if g.metrics.LoginsThrottled.Load() == 0 || g.metrics.LoginsFailed.Load() != 50 {
		t.Errorf("metrics: failed %d throttled %d", g.metrics.LoginsFailed.Load(), g.metrics.LoginsThrottled.Load())
	}
}

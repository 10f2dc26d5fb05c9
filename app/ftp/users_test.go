package ftp_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
	"golang.org/x/crypto/bcrypt"

	"github.com/ftps3/ftps3/app/auth"
	gw "github.com/ftps3/ftps3/app/ftp"
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

// 40 guesses at once from one address against a hashed password: only as
// many as the failure limit are checked; the rest are refused at once.
func TestParallelGuessesAreThrottled(t *testing.T) {
	h, _ := bcrypt.GenerateFromPassword([]byte(testPass), bcrypt.MinCost)
	g := startGateway(t, gatewayOptions{backend: "file",
		users: []auth.User{{Login: testUser, Password: auth.Bcrypt(h)}},
		tune:  func(o *gw.Options) { o.Throttle = auth.NewThrottle(5, time.Minute, time.Minute) }})
	var wg sync.WaitGroup
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := ftp.Dial(g.addr, ftp.DialWithTLS(clientTLS(0)), ftp.DialWithTimeout(10*time.Second))
			if err != nil {
				return
			}
			defer c.Quit()
			if err := c.Login(testUser, "guess"); err == nil {
				t.Error("a guess logged in")
			}
		}()
	}
	wg.Wait()
	// (Past 20 connections waiting to log in, the address is also refused
	// at the door.)
	failed, throttled, atDoor := g.metrics.LoginsFailed.Load(), g.metrics.LoginsThrottled.Load(), g.metrics.ConnsRefusedPending.Load()
	if failed > 5 || failed+throttled+atDoor != 40 {
		t.Errorf("%d guesses checked, %d refused, %d turned away at the door: want at most 5 checked", failed, throttled, atDoor)
	}
}

package ftp_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ftps3/ftps3/app/auth"
	gw "github.com/ftps3/ftps3/app/ftp"
	"github.com/ftps3/ftps3/app/storage"
)

// fuzzSession is one logged-in control connection that fuzz inputs share,
// so that a sequence of inputs is a session (RNFR in one, RNTO in the next).
type fuzzSession struct {
	conn net.Conn
	r    *bufio.Reader
	sent []string // the lines this session was sent, for failure messages
}

var replyLine = regexp.MustCompile(`^[1-5][0-9][0-9][ -]`)

// Command lines from a client, each answered in a session with a home:
// nothing panics, every reply is well formed and no reply line carries a
// CR, LF or NUL that could forge another, and no key is written outside
// the home.
func FuzzControlSession(f *testing.F) {
	for _, seed := range []string{"PWD", "MKD a", "CWD ../../..", "STOR x\rname", "MKD \xff", "RNFR a", "RNTO ../../../out",
		"STAT /", "STAT", "REST -1", "REST 5", "SIZE a", "AUTH TLS", "PORT 1,2,3,4,5,6", "MLST ..", "RETR ../../etc/passwd",
		"DELE ../../x", "RMD /", "NLST", "OPTS UTF8 ON", "FEAT", "TYPE A", "MKD d/.s3keep", "CWD a\x00b"} {
		f.Add(seed)
	}
	g := startGateway(f, gatewayOptions{backend: "file", dirSuffix: "/.s3keep",
		users: []auth.User{{Login: testUser, Password: auth.Plain(testPass), Home: "home/"}},
		tune:  func(o *gw.Options) { o.Throttle = auth.NewThrottle(1_000_000, time.Minute, time.Second) }})
	home, err := g.store.Create(context.Background(), "home/.s3keep") // the user's home exists
	must(f, err)
	must(f, home.Commit(context.Background()))
	var s *fuzzSession
	f.Fuzz(func(t *testing.T, line string) {
		cmd, _, _ := strings.Cut(strings.ToUpper(strings.TrimSpace(line)), " ")
		// A line break makes two commands, which the seeds cover one by one.
		if strings.ContainsAny(line, "\n") || cmd == "USER" || cmd == "PASS" {
			t.Skip()
		}
		if s == nil {
			s = dialFuzz(t, g.addr)
		}
		s.conn.SetDeadline(time.Now().Add(8 * time.Second))
		s.sent = append(s.sent, line)
		if _, err := fmt.Fprintf(s.conn, "%s\r\n", line); err != nil {
			t.Fatal(err)
		}
		for first := true; ; first = false {
			l, err := s.r.ReadString('\n')
			if err != nil {
				if cmd == "QUIT" {
					s = nil
					return
				}
				// A slow answer on a loaded machine is not a failure; a
				// gateway that no longer serves a new session is.
				sent := s.sent
				s.conn.Close()
				s = nil
				probe := dialFuzz(t, g.addr)
				defer probe.conn.Close()
				fmt.Fprintf(probe.conn, "NOOP\r\n")
				if l, perr := probe.r.ReadString('\n'); perr != nil || !strings.HasPrefix(l, "200") {
					t.Fatalf("%q: no reply (%v), and a new session gets %q, %v (the lines: %q)", line, err, l, perr, sent)
				}
				t.Logf("%q: no reply within the deadline (%v); the gateway serves new sessions (the lines: %q)", line, err, sent)
				return
			}
			body := strings.TrimSuffix(l, "\r\n")
			if strings.ContainsAny(body, "\r\n\x00") || !strings.HasSuffix(l, "\r\n") {
				t.Fatalf("%q: reply line %q carries a line break or NUL", line, l)
			}
			if first && !replyLine.MatchString(body) || !first && !replyLine.MatchString(body) && !strings.HasPrefix(body, " ") {
				t.Fatalf("%q: malformed reply line %q (the session's lines: %q)", line, l, s.sent)
			}
			if replyLine.MatchString(body) && body[3] == ' ' && !strings.HasPrefix(body, "1") {
				if strings.HasPrefix(body, "227") || strings.HasPrefix(body, "229") {
					cmd = "QUIT" // a transfer in this session would wait for a data connection: start afresh
				}
				break
			}
		}
		if cmd == "QUIT" {
			s.conn.Close()
			s = nil
		}
		g.store.List(context.Background(), "", storage.ListOptions{}, func(o storage.Object) error {
			if o.Key != "home/" {
				t.Fatalf("after %q: key %q outside the home", line, o.Key)
			}
			return nil
		})
	})
}

func dialFuzz(t *testing.T, addr string) *fuzzSession {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, clientTLS(0))
	if err != nil {
		t.Fatal(err)
	}
	s := &fuzzSession{conn: conn, r: bufio.NewReader(conn)}
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	for _, l := range []string{"", "USER " + testUser, "PASS " + testPass} {
		if l != "" {
			fmt.Fprintf(conn, "%s\r\n", l)
		}
		if _, err := s.r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

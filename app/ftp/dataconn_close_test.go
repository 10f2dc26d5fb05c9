package ftp

import (
	"log/slog"
	"net"
	"runtime"
	"testing"
	"time"
)

// A transfer whose client never connects: Accept gives up at the port's
// deadline, and closing the port afterwards leaves nothing running.
func TestDataListenerAcceptTimeoutThenClose(t *testing.T) {
	s := &Server{opts: Options{DataIdleTimeout: time.Minute}, metrics: &Metrics{}, log: slog.New(slog.DiscardHandler),
		listeners: map[int]*dataListener{}}
	before := runtime.NumGoroutine()
	for range 50 {
		tl, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		l := newDataListener(s, tl)
		tl.SetDeadline(time.Now().Add(10 * time.Millisecond)) // as the library bounds the wait
		if _, err := l.Accept(); err == nil {
			t.Fatal("Accept returned a connection nobody made")
		}
		l.Close()
		if _, err := l.Accept(); err == nil {
			t.Fatal("Accept on a closed port")
		}
	}
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before+2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before, %d after 50 ports", before, runtime.NumGoroutine())
		}
	}
}

// A port another session used before belongs to the session it is announced
// to now: when the earlier session asks for a new port (PASV releases its
// unused ones), the port another session was just given stays open. It was
// closed when the owner was kept per port number: between the listener's
// creation and its passive reply, the port still named its previous
// session, and curl then failed its transfer ("Bad PASV/EPSV response").
func TestEarlierSessionsPassiveDoesNotCloseAReusedPort(t *testing.T) {
	s := &Server{opts: Options{DataIdleTimeout: time.Minute}, metrics: &Metrics{}, log: slog.New(slog.DiscardHandler),
		listeners: map[int]*dataListener{}}
	session := func() *controlConn {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		return newControlConn(a, newControlID(), false)
	}
	earlier, later := session(), session()

	tl, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := tl.Addr().(*net.TCPAddr).Port
	used := newDataListener(s, tl)
	s.setPortOwner(port, earlier) // its passive reply
	used.Close()                  // its transfer is over

	tl, err = net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	reused := newDataListener(s, tl) // the later session's PASV, its reply not yet written
	defer reused.Close()
	s.releasePassive(earlier) // the earlier session's next PASV
	s.setPortOwner(port, later)

	reused.state.Lock()
	closed := reused.closed
	reused.state.Unlock()
	if closed {
		t.Fatal("the earlier session's PASV closed the port just given to another session")
	}
	c, err := net.Dial("tcp", tl.Addr().String())
	if err != nil {
		t.Fatalf("the later session's client cannot connect to its port: %v", err)
	}
	c.Close()
}

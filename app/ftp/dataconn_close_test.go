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
		listeners: map[int]*dataListener{}, ports: map[int]*controlConn{}}
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

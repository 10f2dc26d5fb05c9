package nlbsim

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Namespace is a network namespace, named by a path such as
// /proc/PID/ns/net: one simulated host.
type Namespace string

// in runs f on an OS thread that has entered the namespace: sockets f
// creates belong to it (and stay there once the thread leaves). The thread
// is discarded if it cannot return to its own namespace.
func (n Namespace) in(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		own, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return // the locked thread ends with the goroutine
		}
		defer own.Close()
		target, err := os.Open(string(n))
		if err != nil {
			errc <- fmt.Errorf("network namespace %s: %w", n, err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter network namespace %s: %w", n, err)
			return
		}
		ferr := f()
		if unix.Setns(int(own.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

// DialContext connects to addr inside the namespace, from local (nil: any).
func (n Namespace) DialContext(ctx context.Context, addr string, local net.Addr) (net.Conn, error) {
	var c net.Conn
	err := n.in(func() error {
		var err error
		c, err = (&net.Dialer{LocalAddr: local}).DialContext(ctx, "tcp", addr)
		return err
	})
	return c, err
}

// Listen listens on addr inside the namespace.
func (n Namespace) Listen(addr string) (net.Listener, error) {
	var l net.Listener
	err := n.in(func() error {
		var err error
		l, err = net.Listen("tcp", addr)
		return err
	})
	return l, err
}

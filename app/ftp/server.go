// Package ftp is the FTPS front door: a protocol adapter that serves FTP over
// TLS (implicit and explicit on one port, passive mode) with ftpserverlib,
// over the shared file-system view (objfs). It adds what the library lacks:
// telling implicit from explicit clients (listener.go), fixing replies and
// command lines at the edge (controlconn.go, replies.go), detecting cut
// uploads below TLS and batching writes (dataconn.go), choosing PASV
// addresses per client network (passive.go), and draining on shutdown.
package ftp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/ftps3/ftps3/app/auth"
)

// Server is the FTPS gateway. It is ftpserverlib's MainDriver (driver.go).
type Server struct {
	opts     Options
	lib      *ftpserver.FtpServer
	listener *Listener
	passive  *passiveAddrs
	log      *slog.Logger
	metrics  *Metrics

	ctrlMu   sync.Mutex
	controls map[string]*controlConn // by client address, until the session starts

	sessMu   sync.Mutex
	sessions map[uint32]*controlConn // control connections of the sessions

	draining  atomic.Bool
	transfers sync.WaitGroup
}

// New prepares a server; Serve starts it.
func New(opts Options) (*Server, error) {
	if opts.FS == nil || opts.Users == nil || opts.TLS == nil {
		return nil, errors.New("ftp: FS, Users and TLS are required")
	}
	if opts.Throttle == nil {
		opts.Throttle = auth.NewThrottle(0, 0, 0)
	}
	if opts.LoginFailureDelay == 0 {
		opts.LoginFailureDelay = time.Second
	}
	if opts.Metrics == nil {
		opts.Metrics = &Metrics{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{
		opts: opts, passive: newPassiveAddrs(opts.Passive),
		log: opts.Logger, metrics: opts.Metrics,
		controls: map[string]*controlConn{}, sessions: map[uint32]*controlConn{},
	}, nil
}

// Serve accepts clients on l (the command port) until Shutdown.
func (s *Server) Serve(l net.Listener) error {
	s.listener = newListener(l, s.controlTLS(), s.opts.TLSMode, s.log, s.registerControl)
	s.lib = ftpserver.NewFtpServer(s)
	s.lib.Logger = s.log.With("component", "ftpserverlib")
	if err := s.lib.Listen(); err != nil {
		return fmt.Errorf("ftp: %w", err)
	}
	return s.lib.Serve()
}

// controlTLS is the command port's TLS: session tickets let data
// connections and reconnections resume quickly.
func (s *Server) controlTLS() *tls.Config {
	c := s.opts.TLS.Clone()
	c.NextProtos = []string{"ftp"}
	return c
}

// dataTLS is the data connections' TLS. It sends no session tickets: over
// TLS 1.3 tickets arrive after the handshake, an uploading client never reads
// them, and closing a socket with unread data makes the kernel send a reset
// that can destroy the upload's last bytes before the server reads them.
func (s *Server) dataTLS() *tls.Config {
	c := s.opts.TLS.Clone()
	c.SessionTicketsDisabled = true
	c.NextProtos = []string{"ftp-data"}
	return c
}

// registerControl notes a control connection whose TLS is up, so that the
// session the library starts on it can find it (by client address).
func (s *Server) registerControl(c *controlConn) {
	c.metrics = s.metrics
	s.ctrlMu.Lock()
	s.controls[c.RemoteAddr().String()] = c
	s.ctrlMu.Unlock()
}

func (s *Server) takeControl(addr net.Addr) *controlConn {
	s.ctrlMu.Lock()
	defer s.ctrlMu.Unlock()
	c := s.controls[addr.String()]
	delete(s.controls, addr.String())
	return c
}

// Shutdown stops accepting clients, refuses new transfers, waits up to ctx
// for the running transfers, then closes every session: uploads that did not
// finish are aborted, so nothing partial is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	if s.lib != nil {
		_ = s.lib.Stop()
	}
	if s.listener != nil {
		_ = s.listener.Close()
	}
	done := make(chan struct{})
	go func() { s.transfers.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("transfers still running after the grace period: aborting them")
	}
	s.sessMu.Lock()
	// Closing the control connection makes ftpserverlib end the session on
	// its own goroutine, closing the transfer too. (ClientContext.Close from
	// here would race with that goroutine inside the library.)
	for _, ctrl := range s.sessions {
		_ = ctrl.closeForReal()
	}
	s.sessMu.Unlock()
	// Closing the sessions ends their transfers: wait for the aborts.
	select {
	case <-done:
	case <-time.After(20 * time.Second):
	}
	return err
}

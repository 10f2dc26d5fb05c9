// Package ftp is the FTPS side of the gateway: ftpserverlib drivers for
// authentication, TLS, passive addresses and a file system over a
// storage.Store, plus what the library lacks (serving implicit and explicit
// TLS on one port, detecting cut uploads, keeping sessions alive after
// errors, draining on shutdown).
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
	"github.com/ftps3/ftps3/app/config"
	"github.com/ftps3/ftps3/app/health"
	"github.com/ftps3/ftps3/app/storage"
)

// Options configure a Server.
type Options struct {
	Store     storage.Store
	DirSuffix string // directory marker suffix (default "/")
	Users     *auth.Users
	Throttle  *auth.Throttle
	TLS       *tls.Config // certificate and minimum version

	TLSMode        string // config.TLSAuto, TLSImplicit or TLSExplicit
	DataPortsFirst int
	DataPortsCount int
	DataCIDRs      []config.DataCIDR

	IdleTimeout        time.Duration
	RequireCloseNotify bool
	// LoginFailureDelay slows password guessing (default 1 s).
	LoginFailureDelay time.Duration

	Metrics *health.Metrics
	Logger  *slog.Logger
}

// Server is the FTPS gateway.
type Server struct {
	opts     Options
	lib      *ftpserver.FtpServer
	listener *Listener
	passive  *passiveAddrs
	data     *dataConns
	log      *slog.Logger
	metrics  *health.Metrics

	ctrlMu   sync.Mutex
	controls map[string]*controlConn // by client address, until the session starts

	sessMu   sync.Mutex
	sessions map[uint32]*sessionState

	draining  atomic.Bool
	transfers sync.WaitGroup
}

type sessionState struct {
	ctrl *controlConn
}

// New prepares a server; Serve starts it.
func New(opts Options) (*Server, error) {
	if opts.Store == nil || opts.Users == nil || opts.TLS == nil {
		return nil, errors.New("ftp: Store, Users and TLS are required")
	}
	if opts.DirSuffix == "" {
		opts.DirSuffix = "/"
	}
	if opts.Throttle == nil {
		opts.Throttle = auth.NewThrottle(0, 0, 0)
	}
	if opts.LoginFailureDelay == 0 {
		opts.LoginFailureDelay = time.Second
	}
	if opts.Metrics == nil {
		opts.Metrics = &health.Metrics{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.TLSMode == "" {
		opts.TLSMode = config.TLSAuto
	}
	s := &Server{
		opts: opts, passive: newPassiveAddrs(opts.DataCIDRs), data: newDataConns(),
		log: opts.Logger, metrics: opts.Metrics,
		controls: map[string]*controlConn{}, sessions: map[uint32]*sessionState{},
	}
	return s, nil
}

// Serve accepts clients on l (the command port) until Shutdown.
func (s *Server) Serve(l net.Listener) error {
	s.listener = newListener(l, s.controlTLS(), s.opts.TLSMode, "ftps3 ready", s.log, s.registerControl)
	s.lib = ftpserver.NewFtpServer(&driver{s})
	s.lib.Logger = s.log.With("component", "ftpserverlib")
	if err := s.lib.Listen(); err != nil {
		return fmt.Errorf("ftp: %w", err)
	}
	err := s.lib.Serve()
	return err
}

// Addr is the command port's address, once Serve runs.
func (s *Server) Addr() net.Addr {
	if s.listener == nil {
		return nil
	}
	return s.listener.Addr()
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

func (s *Server) registerControl(c *controlConn) {
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
	for _, st := range s.sessions {
		_ = st.ctrl.closeForReal()
	}
	s.sessMu.Unlock()
	// Closing the sessions ends their transfers: wait for the aborts.
	select {
	case <-done:
	case <-time.After(20 * time.Second):
	}
	return err
}

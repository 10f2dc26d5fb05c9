// Package ftp is the FTPS front door: a protocol adapter that serves FTP over
// TLS (implicit and explicit on one port, passive mode) with ftpserverlib,
// over the shared file-system view (objfs). It adds what the library lacks:
// telling implicit from explicit clients (listener.go), fixing replies and
// command lines at the edge (controlconn.go, replies.go), detecting cut
// uploads below TLS and batching writes (dataconn.go), choosing PASV
// addresses per client network (passive.go), and draining on shutdown.
package ftp

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/ftps3/ftps3/app/auth"
)

// Server is the FTPS gateway. It is ftpserverlib's MainDriver (driver.go).
type Server struct {
	opts     Options
	tlsBase  *tls.Config // opts.TLS with this server's session ticket keys
	lib      *ftpserver.FtpServer
	listener *Listener
	passive  *passiveAddrs
	log      *slog.Logger
	metrics  *Metrics

	ctrlMu   sync.Mutex
	controls map[string]*controlConn // by client address, until the session starts

	sessMu   sync.Mutex
	sessions map[uint32]*controlConn // control connections of the sessions

	limits   *connLimits
	listings chan struct{} // one per data port: listings in progress

	portMu    sync.Mutex
	listeners map[int]*dataListener // passive port → its listener, while open

	draining  atomic.Bool
	stopOnce  sync.Once // the library's Stop races with its Serve if called twice
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
	opts.LoginTimeout = cmp.Or(opts.LoginTimeout, time.Minute)
	opts.DataIdleTimeout = cmp.Or(opts.DataIdleTimeout, 2*time.Minute)
	opts.MaxConnections = cmp.Or(opts.MaxConnections, 1000)
	opts.MaxConnectionsPerAddress = cmp.Or(opts.MaxConnectionsPerAddress, 100)
	opts.MaxLoginsPendingPerAddress = cmp.Or(opts.MaxLoginsPendingPerAddress, 20)
	if opts.Metrics == nil {
		opts.Metrics = &Metrics{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	// One ticket key for the control and data connections (each
	// connection's config is a clone), so a data connection's ticket can be
	// read; it lives as long as the process.
	base := opts.TLS.Clone()
	var key [32]byte
	rand.Read(key[:])
	base.SetSessionTicketKeys([][32]byte{key})
	if base.CipherSuites == nil {
		base.CipherSuites = aeadSuites // for TLS 1.2; TLS 1.3's are all AEAD
	}
	return &Server{
		opts: opts, tlsBase: base, passive: newPassiveAddrs(opts.Passive),
		limits:    newConnLimits(opts.MaxConnections, opts.MaxConnectionsPerAddress, opts.MaxLoginsPendingPerAddress),
		listeners: map[int]*dataListener{},
		listings:  make(chan struct{}, max(1, opts.DataPortsCount)),
		log:       opts.Logger, metrics: opts.Metrics,
		controls: map[string]*controlConn{}, sessions: map[uint32]*controlConn{},
	}, nil
}

// Serve accepts clients on l (the command port) until Shutdown.
func (s *Server) Serve(l net.Listener) error {
	s.listener = newListener(l, s.controlTLS, s.opts.TLSMode, s.log, s.admit, s.registerControl)
	s.lib = ftpserver.NewFtpServer(s)
	s.lib.Logger = s.log.With("component", "ftpserverlib")
	if err := s.lib.Listen(); err != nil {
		return fmt.Errorf("ftp: %w", err)
	}
	return s.lib.Serve()
}

// controlTLS is the command port's TLS for one control connection: its
// session tickets carry the connection's id, which its data connections
// must show (sessionreuse.go).
func (s *Server) controlTLS(id controlID) *tls.Config {
	c := s.tlsBase.Clone()
	c.NextProtos = []string{"ftp"}
	c.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		markTicket(ss, id)
		return c.EncryptTicket(cs, ss)
	}
	return c
}

// dataTLS is the data connections' TLS: each connection gets the config its
// ClientHello proved it may use (sessionreuse.go).
func (s *Server) dataTLS() *tls.Config {
	c := s.tlsBase.Clone()
	c.NextProtos = []string{"ftp-data"}
	c.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		dc := dataConnOf(hello.Conn)
		if dc == nil {
			return nil, errors.New("not a data connection")
		}
		return s.dataTLSFor(dc)
	}
	return c
}

// dataTLSFor is the TLS of one data connection.
//   - TLS 1.3 with a verified binder: a full handshake without session
//     tickets (an uploading client never reads them, and unread data makes
//     its close a reset that can cut the upload's tail), limited to the
//     checked ClientHello's key shares, so that no HelloRetryRequest lets
//     another client continue a replayed ClientHello.
//   - TLS 1.2 with the owner's ticket: the handshake must resume it (the
//     ticket is sent inside the handshake, where every client reads it).
//   - No proof (FTP_TLS_SESSION_REUSE=optional): a full handshake without
//     tickets.
func (s *Server) dataTLSFor(dc *dataConn) (*tls.Config, error) {
	c := s.tlsBase.Clone()
	c.NextProtos = []string{"ftp-data"}
	switch dc.proof {
	case proofTLS13:
		c.SessionTicketsDisabled = true
		c.MinVersion = tls.VersionTLS13
		if len(dc.keyShares) > 0 {
			c.CurvePreferences = dc.keyShares
		}
	case proofTLS12:
		c.MaxVersion = tls.VersionTLS12
		owner := dc.owner.id
		c.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
			ss, err := c.DecryptTicket(identity, cs)
			if id, ok := ticketOwner(ss); err != nil || !ok || id != owner {
				return nil, nil // not the owner's: no resumption
			}
			return ss, nil
		}
		c.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
			markTicket(ss, owner) // the ticket a resumed TLS 1.2 handshake issues anew
			return c.EncryptTicket(cs, ss)
		}
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if !cs.DidResume {
				return errNoReuse
			}
			return nil
		}
	default:
		if s.opts.TLSSessionReuse == ReuseRequired {
			return nil, errNoReuse
		}
		c.SessionTicketsDisabled = true
	}
	return c, nil
}

// setPortOwner records the control connection a passive port was announced
// to (replies.go reads the port from the PASV/EPSV reply), and starts the
// port: its data connection's TLS begins as soon as the client connects.
// The owner is the listener's, not the port number's: the port is another
// session's once this listener closed.
func (s *Server) setPortOwner(port int, c *controlConn) {
	s.portMu.Lock()
	l := s.listeners[port]
	s.portMu.Unlock()
	if l != nil {
		l.owner.Store(c)
		l.announced.Store(time.Now().UnixNano())
		l.start()
	}
}

// releasePassive closes the passive ports of c that no transfer uses yet:
// the session asks for a new one (PASV/EPSV), and the library would look
// for a free port before closing the old one, so a session holding the last
// free port could not get another.
func (s *Server) releasePassive(c *controlConn) {
	s.portMu.Lock()
	var mine []*dataListener
	for _, l := range s.listeners {
		if l.owner.Load() == c && !l.claimed.Load() {
			mine = append(mine, l)
		}
	}
	s.portMu.Unlock()
	for _, l := range mine {
		l.closeUnused()
	}
}

// claimPassive marks the passive ports announced to c as spoken for by the
// transfer command just read, so that c's next PASV does not release them
// (see releasePassive); or, at the next final reply, no longer (a transfer
// that failed before taking its port, such as RETR of a missing file,
// leaves it to be released).
func (s *Server) claimPassive(c *controlConn, claim bool) {
	s.portMu.Lock()
	defer s.portMu.Unlock()
	for _, l := range s.listeners {
		if l.owner.Load() == c {
			l.claimed.Store(claim)
		}
	}
}

// errPassiveAddress is what a client is told when its passive address
// cannot be found (the detail is logged).
var errPassiveAddress = errors.New("the passive address cannot be found right now: try again in a moment, or use EPSV")

// passiveAddressFor checks, before the library reserves a port for a PASV,
// that the address to send c can be found.
func (s *Server) passiveAddressFor(c *controlConn) error {
	if _, err := s.passive.forClient(c.RemoteAddr(), c.LocalAddr()); err != nil {
		s.log.Warn("PASV refused: no passive address for this client", "client", c.RemoteAddr().String(), "err", err)
		if errors.Is(err, errPassiveNeedsIPv4) {
			return errPassiveNeedsIPv4
		}
		return errPassiveAddress
	}
	return nil
}

// aeadSuites are the TLS 1.2 cipher suites offered: forward secrecy and
// authenticated encryption only (no CBC, no SHA-1 MACs, no RSA key exchange).
var aeadSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// admit counts a new control connection against the limits, or refuses it.
func (s *Server) admit(c net.Conn) (*admission, bool) {
	a, why := s.limits.admit(hostIP(c.RemoteAddr()).String())
	if a == nil {
		s.metrics.refused(why)
		s.log.Warn("connection refused", "client", c.RemoteAddr().String(), "reason", why)
		return nil, false
	}
	return a, true
}

// registerControl notes a control connection whose TLS is up, so that the
// session the library starts on it can find it (by client address).
func (s *Server) registerControl(c *controlConn) {
	c.metrics = s.metrics
	c.onPassivePort = func(port int) { s.setPortOwner(port, c) }
	c.onPassiveCommand = func(cmd string) error {
		s.releasePassive(c)
		if cmd == "PASV" {
			return s.passiveAddressFor(c)
		}
		return nil
	}
	c.onTransferCommand = func() { s.claimPassive(c, true) }
	c.onFinalReply = func() { s.claimPassive(c, false) }
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

// CloseSessionsOf ends the sessions of these users (removed or disabled by
// a reload of the user list): their control connections close, so their
// transfers end and uploads in progress are aborted, nothing stored.
func (s *Server) CloseSessionsOf(logins []string) {
	s.sessMu.Lock()
	var doomed []*controlConn
	for _, ctrl := range s.sessions {
		if u := ctrl.user.Load(); u != nil && slices.Contains(logins, *u) {
			doomed = append(doomed, ctrl)
		}
	}
	s.sessMu.Unlock()
	for _, ctrl := range doomed {
		s.log.Info("closing the session of a removed user", "user", *ctrl.user.Load(), "client", ctrl.RemoteAddr().String())
		_, _ = ctrl.Write([]byte("421 Your account was removed or disabled: closing the connection\r\n"))
		_ = ctrl.closeForReal()
	}
}

// Shutdown stops accepting clients, refuses new transfers, waits up to ctx
// for the running transfers, then closes every session: uploads that did not
// finish are aborted, so nothing partial is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.stopOnce.Do(func() {
		if s.lib != nil {
			_ = s.lib.Stop()
		}
	})
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

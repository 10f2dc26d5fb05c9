// Package sftp is the SFTP front door: SSH (golang.org/x/crypto/ssh) with
// the sftp subsystem, served by pkg/sftp's request server over the shared
// file-system view (objfs), for the same users (auth) as FTPS; and, as exec
// requests, the checksum commands md5sum, sha1sum and sha256sum answered
// from the digests recorded at upload (no shell, nothing else runs).
//
// One file per concern: the connection and its channels (server.go), logins
// and throttling (auth.go), the requests (handlers.go), uploads written in
// order from pipelined writes (upload.go), cut uploads kept and resumed
// (resume.go), downloads with read-ahead (download.go), paged listings
// (lister.go), checksum commands (sumcmd.go), host keys (hostkey.go),
// status codes (errors.go) and metrics (metrics.go).
package sftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/ftps3/ftps3/app/auth"
)

// Server is the SFTP gateway.
type Server struct {
	fastWrites atomic.Int64 // WRITE requests taken by the fast path (fastpath.go)
	fastReads  atomic.Int64 // READ requests taken by the fast path
	opts       Options
	base       ssh.ServerConfig
	log        *slog.Logger
	metrics    *Metrics

	mu        sync.Mutex
	listeners map[net.Listener]bool
	conns     map[net.Conn]bool
	logins    map[net.Conn]string // the user logged in on each connection
	channels  map[*sessionChannel]bool
	draining  atomic.Bool
	transfers sync.WaitGroup // open upload and download handles
	handlers  sync.WaitGroup // connection goroutines
}

// New prepares a server; Serve starts it.
func New(opts Options) (*Server, error) {
	if opts.FS == nil || opts.Users == nil || len(opts.HostKeys) == 0 {
		return nil, errors.New("sftp: FS, Users and HostKeys are required")
	}
	if opts.Throttle == nil {
		opts.Throttle = auth.NewThrottle(0, 0, 0)
	}
	if opts.WriteWindow <= 0 {
		opts.WriteWindow = 8 << 20
	}
	if opts.ReadAhead <= 0 {
		opts.ReadAhead = 4 << 20
	}
	opts.ReadAhead = max(opts.ReadAhead, 1<<20)
	if opts.LoginFailureDelay == 0 {
		opts.LoginFailureDelay = time.Second
	}
	if opts.MaxAuthTries == 0 {
		opts.MaxAuthTries = 6
	}
	if opts.Metrics == nil {
		opts.Metrics = &Metrics{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, log: opts.Logger, metrics: opts.Metrics,
		listeners: map[net.Listener]bool{}, conns: map[net.Conn]bool{}, logins: map[net.Conn]string{}, channels: map[*sessionChannel]bool{}}
	s.base = ssh.ServerConfig{
		Config:                  ssh.Config{KeyExchanges: KeyExchanges, Ciphers: Ciphers, MACs: MACs},
		MaxAuthTries:            opts.MaxAuthTries,
		ServerVersion:           serverVersion,
		PublicKeyAuthAlgorithms: PublicKeyAlgorithms,
	}
	for _, k := range opts.HostKeys {
		s.base.AddHostKey(k)
	}
	return s, nil
}

// Serve accepts clients on l until Shutdown.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.draining.Load() {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.listeners[l] = true
	s.mu.Unlock()
	for {
		c, err := l.Accept()
		if err != nil {
			if s.draining.Load() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("sftp: %w", err)
		}
		if !s.track(c) {
			c.Close()
			continue
		}
		go s.serveConn(c)
	}
}

// CloseSessionsOf ends the connections of these users (removed or disabled
// by a reload of the user list); their uploads not closed yet are cut as
// any other (kept for resuming, nothing visible).
func (s *Server) CloseSessionsOf(logins []string) {
	s.mu.Lock()
	var doomed []net.Conn
	for c, login := range s.logins {
		if slices.Contains(logins, login) {
			doomed = append(doomed, c)
		}
	}
	s.mu.Unlock()
	for _, c := range doomed {
		s.log.Info("closing the session of a removed user", "client", c.RemoteAddr().String())
		c.Close()
	}
}

// track registers a connection; false while draining.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining.Load() {
		return false
	}
	s.conns[c] = true
	s.handlers.Add(1)
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	delete(s.logins, c)
	s.mu.Unlock()
	s.handlers.Done()
}

// serveConn runs one SSH connection: the handshake and login, then its
// channels; only "session" channels are served (serveSession).
func (s *Server) serveConn(raw net.Conn) {
	defer s.untrack(raw)
	defer raw.Close()
	ip := hostOf(raw.RemoteAddr())
	log := s.log.With("client", raw.RemoteAddr().String())
	if ok, wait := s.opts.Throttle.Allowed(ip); !ok {
		s.metrics.LoginsThrottled.Add(1)
		log.Warn("connection refused: too many failed logins from this address", "retry_after", wait.Round(time.Second).String())
		return
	}
	c := newTransportConn(raw, s.opts.IdleTimeout)
	// The handshake must end in bounded time, idle timeout or not.
	raw.SetDeadline(time.Now().Add(2 * time.Minute))
	la := &loginAttempt{s: s, ip: ip, log: log}
	cfg := s.base
	cfg.PasswordCallback = la.password
	cfg.PublicKeyCallback = la.publicKey
	cfg.AuthLogCallback = la.logAttempt
	conn, chans, reqs, err := ssh.NewServerConn(c, &cfg)
	if err != nil {
		s.metrics.HandshakesFailed.Add(1)
		la.ended(err)
		return
	}
	raw.SetDeadline(time.Time{})
	defer conn.Close()
	// Named on the connection before the user is looked up, so that a
	// reload removing the user either finds the connection or is seen here.
	login := conn.Permissions.Extensions["login"]
	s.mu.Lock()
	s.logins[raw] = login
	s.mu.Unlock()
	usr, ok := s.opts.Users.Lookup(login)
	if !ok {
		return
	}
	log = log.With("user", usr.Login, "protocol", "sftp")
	s.opts.Throttle.Succeeded(ip)
	s.metrics.LoginsOK.Add(1)
	s.metrics.SessionsTotal.Add(1)
	s.metrics.SessionsActive.Add(1)
	defer s.metrics.SessionsActive.Add(-1)
	log.Info("logged in", "method", conn.Permissions.Extensions["method"], "client_version", string(conn.ClientVersion()))
	start := time.Now()
	defer func() { log.Info("session ended", "duration", time.Since(start).Round(time.Millisecond).String()) }()

	go ssh.DiscardRequests(reqs) // global requests: no port forwarding, no keepalive needs
	var wg sync.WaitGroup
	defer wg.Wait()
	var open atomic.Int32
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.Prohibited, "only sessions (the sftp subsystem, checksum commands) are served")
			continue
		}
		if open.Load() >= maxSessionsPerConn {
			log.Warn("session refused: too many on one connection", "max", maxSessionsPerConn)
			nc.Reject(ssh.ResourceShortage, "too many sessions on this connection")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			log.Warn("channel", "err", err)
			continue
		}
		open.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer open.Add(-1)
			s.serveSession(ch, creqs, usr, log)
		}()
	}
}

// maxSessionsPerConn bounds the session channels open at once on one SSH
// connection (each sftp session holds buffers and goroutines), as OpenSSH's
// MaxSessions does (10 by default there too).
const maxSessionsPerConn = 10

// serveSession answers a session channel's requests: the sftp subsystem
// starts the file server, an exec request runs a checksum command (or is
// answered with a refusal: sumcmd.go); shell, other subsystems, pty, env,
// agent and X11 forwarding are refused.
func (s *Server) serveSession(ch ssh.Channel, reqs <-chan *ssh.Request, usr *auth.User, log *slog.Logger) {
	defer ch.Close()
	ctx, cancel := context.WithCancel(context.Background()) // ends with the channel
	defer cancel()
	started := false
	for req := range reqs {
		arg, argOK := sshString(req.Payload)
		switch {
		case started || !argOK:
		case req.Type == "subsystem" && arg == "sftp":
			started = true
			req.Reply(true, nil)
			go func() {
				sc := s.newSessionChannel(ch)
				defer s.dropSessionChannel(sc)
				s.serveSFTP(sc, usr, log)
				sc.end()
			}()
			continue
		case req.Type == "exec":
			started = true
			req.Reply(true, nil)
			go s.serveExec(ctx, ch, arg, s.opts.FS.View(usr.Home, usr.ReadOnly, log), log)
			continue
		}
		if req.Type != "env" {
			log.Info("session request refused: only the sftp subsystem and checksum commands are served", "type", req.Type)
		}
		if req.WantReply {
			req.Reply(false, nil)
		}
	}
}

// sshString reads the payload of a "subsystem" or "exec" request: one SSH
// string (the name, the command line).
func sshString(payload []byte) (string, bool) {
	s, rest, ok := sshField(payload)
	return string(s), ok && len(rest) == 0
}

// serveSFTP runs the request server over the channel until the client ends
// it or the connection drops; handles still open are then closed, which
// cuts their uploads (kept for resuming: upload.go).
func (s *Server) serveSFTP(ch *sessionChannel, usr *auth.User, log *slog.Logger) {
	ch.fast = newFastHandles()
	h := &handlers{s: s, view: s.opts.FS.View(usr.Home, usr.ReadOnly, log), log: log, fast: ch.fast}
	rs := sftp.NewRequestServer(ch, sftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h})
	if err := rs.Serve(); err != nil && !errors.Is(err, io.EOF) {
		var fp errFastPath
		if errors.As(err, &fp) {
			log.Error("sftp session ended by an internal error", "err", err)
			return
		}
		log.Debug("sftp ended", "err", err)
	}
}

// Shutdown stops accepting clients, refuses new transfers, waits up to ctx
// for the open transfers to close, then closes every connection: uploads
// not yet closed by their clients are cut, kept for resuming (or aborted
// when resuming is off), so nothing partial is visible. It returns when
// every connection has ended and, for up to cutGrace more, the cut
// uploads were kept or aborted.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining.Store(true)
	for l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.transfers.Wait(); close(done) }()
	var err error
	select {
	case <-done:
		// The last replies (a CLOSE's status, say) may still be on their
		// way: close a session once each request it read was answered.
		s.waitAnswered(ctx)
	case <-ctx.Done():
		err = errors.New("sftp transfers still running after the grace period: aborting them")
	}
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.handlers.Wait()
	select {
	case <-done:
	case <-time.After(cutGrace):
		s.log.Warn("sftp uploads cut by the shutdown were not kept or aborted in time: S3's stale-upload cleanup will take them")
	}
	return err
}

// cutGrace bounds how long Shutdown waits, once the connections are
// closed, for the uploads they cut to be kept for resuming or aborted.
const cutGrace = 30 * time.Second

func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}

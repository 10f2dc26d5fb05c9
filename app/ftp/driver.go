package ftp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/ftps3/ftps3/app/auth"
)

// The Server is ftpserverlib's MainDriver: settings, sessions, logins, TLS.
var (
	_ ftpserver.MainDriver                        = (*Server)(nil)
	_ ftpserver.MainDriverExtensionPassiveWrapper = (*Server)(nil)
)

// maxLoginFailuresPerSession: after that many, the connection is closed.
const maxLoginFailuresPerSession = 3

// GetSettings implements ftpserver.MainDriver.
func (s *Server) GetSettings() (*ftpserver.Settings, error) {
	o := s.opts
	return &ftpserver.Settings{
		Listener: s.listener,
		PassiveTransferPortRange: ftpserver.PortRange{
			Start: o.DataPortsFirst, End: o.DataPortsFirst + o.DataPortsCount - 1,
		},
		PublicIPResolver: func(cc ftpserver.ClientContext) (string, error) {
			return s.passive.forClient(cc.RemoteAddr(), cc.LocalAddr())
		},
		IdleTimeout:       int(o.IdleTimeout / time.Second),
		ConnectionTimeout: int(max(dataConnectTimeout/time.Second, 1)),
		DisableActiveMode: true, // must stay: active data connections would be the library's, without TLS
		// The Listener does the control connection's TLS, and each
		// passive port its data connections' (dataconn.go): the library
		// does none, and sees PROT P as PROT C (commands.go).
		TLSRequired:            ftpserver.ClearOrEncrypted,
		DisableSite:            true,
		DisableMFMT:            true,
		EnableHASH:             true, // answered from recorded digests (hash.go)
		DisableASCIIConversion: true, // bytes stored exactly as sent
		DefaultTransferType:    ftpserver.TransferTypeBinary,
		PasvConnectionsCheck:   ftpserver.IPMatchRequired,
		Banner:                 banner,
	}, nil
}

// ClientConnected implements ftpserver.MainDriver.
func (s *Server) ClientConnected(cc ftpserver.ClientContext) (string, error) {
	ctrl := s.takeControl(cc.RemoteAddr())
	if ctrl == nil {
		return "internal error", errors.New("unknown control connection")
	}
	cc.SetExtra(&sessionExtra{ctrl: ctrl})
	s.sessMu.Lock()
	s.sessions[cc.ID()] = ctrl
	s.sessMu.Unlock()
	s.metrics.SessionsActive.Add(1)
	s.metrics.SessionsTotal.Add(1)
	time.AfterFunc(s.opts.LoginTimeout, func() {
		if ctrl.user.Load() == nil && !ctrl.closed.Load() {
			s.metrics.LoginTimeouts.Add(1)
			s.log.Info("closing a connection that did not log in in time", "session", cc.ID(), "client", cc.RemoteAddr().String(), "timeout", s.opts.LoginTimeout.String())
			_, _ = ctrl.Write([]byte("421 Login timeout: closing the connection\r\n"))
			_ = ctrl.closeForReal()
		}
	})
	s.log.Info("client connected", "session", cc.ID(), "client", cc.RemoteAddr().String())
	return banner, nil
}

// ClientDisconnected implements ftpserver.MainDriver.
func (s *Server) ClientDisconnected(cc ftpserver.ClientContext) {
	s.sessMu.Lock()
	ctrl := s.sessions[cc.ID()]
	delete(s.sessions, cc.ID())
	s.sessMu.Unlock()
	if ctrl != nil {
		_ = ctrl.closeForReal()
		s.metrics.SessionsActive.Add(-1)
	}
	s.log.Info("client disconnected", "session", cc.ID(), "client", cc.RemoteAddr().String())
}

// sessionExtra is what a session keeps between commands.
type sessionExtra struct {
	ctrl     *controlConn
	failures int
}

// AuthUser implements ftpserver.MainDriver.
func (s *Server) AuthUser(cc ftpserver.ClientContext, login, password string) (ftpserver.ClientDriver, error) {
	ex, _ := cc.Extra().(*sessionExtra)
	ip := hostIP(cc.RemoteAddr()).String()
	log := s.log.With("session", cc.ID(), "client", cc.RemoteAddr().String(), "user", login)
	attempt, wait := s.opts.Throttle.Begin(ip)
	if attempt == nil {
		s.metrics.LoginsThrottled.Add(1)
		log.Warn("login refused: too many failures from this address", "retry_after", wait.Round(time.Second).String())
		return nil, fmt.Errorf("too many failed logins from %s: try again in %s", ip, wait.Round(time.Second))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	user, err := s.opts.Users.Authenticate(ctx, login, password)
	if errors.Is(err, auth.ErrBusy) {
		attempt.Abandoned() // not a failure of this address, nor a success
		s.metrics.LoginsThrottled.Add(1)
		log.Warn("login refused: too many logins being checked")
		return nil, err
	}
	if err == nil && ex != nil {
		// Named on the session before the last check, so that a reload
		// removing the user either finds the session or is seen here.
		ex.ctrl.user.Store(&user.Login)
		if !s.opts.Users.Current(user) {
			ex.ctrl.user.Store(nil)
			err = auth.ErrBadCredentials
		}
	}
	if err == nil {
		attempt.Succeeded()
		if ex != nil {
			ex.ctrl.adm.loggedIn()
		}
	} else {
		attempt.Failed()
	}
	if err != nil {
		s.metrics.LoginsFailed.Add(1)
		log.Warn("login failed", "err", err)
		time.Sleep(s.opts.LoginFailureDelay)
		if ex != nil {
			ex.failures++
			if ex.failures < maxLoginFailuresPerSession {
				ex.ctrl.keepOpenOnce()
			}
		}
		return nil, auth.ErrBadCredentials
	}
	s.metrics.LoginsOK.Add(1)
	log.Info("login ok", "home", "/"+user.Home, "read_only", user.ReadOnly)
	return newSession(s, cc, user), nil
}

// GetTLSConfig implements ftpserver.MainDriver: the library only checks
// that there is one (to list AUTH TLS, PBSZ and PROT in FEAT); it runs no
// TLS itself (GetSettings).
func (s *Server) GetTLSConfig() (*tls.Config, error) { return s.dataTLS(), nil }

// WrapPassiveListener implements ftpserver.MainDriverExtensionPassiveWrapper:
// each data connection is a dataConn under the port's TLS.
func (s *Server) WrapPassiveListener(l net.Listener) (net.Listener, error) {
	return newDataListener(s, l), nil
}

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

// driver is the ftpserverlib MainDriver: settings, sessions, logins, TLS.
type driver struct{ s *Server }

var (
	_ ftpserver.MainDriver                        = (*driver)(nil)
	_ ftpserver.MainDriverExtensionPassiveWrapper = (*driver)(nil)
)

// maxLoginFailuresPerSession: after that many, the connection is closed.
const maxLoginFailuresPerSession = 3

func (d *driver) GetSettings() (*ftpserver.Settings, error) {
	o := d.s.opts
	return &ftpserver.Settings{
		Listener: d.s.listener,
		PassiveTransferPortRange: ftpserver.PortRange{
			Start: o.DataPortsFirst, End: o.DataPortsFirst + o.DataPortsCount - 1,
		},
		PublicIPResolver: func(cc ftpserver.ClientContext) (string, error) {
			return d.s.passive.forClient(cc.RemoteAddr(), cc.LocalAddr())
		},
		IdleTimeout:            int(o.IdleTimeout / time.Second),
		ConnectionTimeout:      30,
		DisableActiveMode:      true,
		TLSRequired:            ftpserver.ImplicitEncryption, // the Listener did TLS
		DisableSite:            true,
		DisableMFMT:            true,
		DisableASCIIConversion: true, // bytes stored exactly as sent
		DefaultTransferType:    ftpserver.TransferTypeBinary,
		PasvConnectionsCheck:   ftpserver.IPMatchRequired,
		Banner:                 "ftps3",
	}, nil
}

func (d *driver) ClientConnected(cc ftpserver.ClientContext) (string, error) {
	ctrl := d.s.takeControl(cc.RemoteAddr())
	if ctrl == nil {
		return "internal error", errors.New("unknown control connection")
	}
	cc.SetExtra(&sessionExtra{ctrl: ctrl})
	d.s.sessMu.Lock()
	d.s.sessions[cc.ID()] = &sessionState{ctrl: ctrl}
	d.s.sessMu.Unlock()
	d.s.metrics.SessionsActive.Add(1)
	d.s.metrics.SessionsTotal.Add(1)
	d.s.log.Info("client connected", "session", cc.ID(), "client", cc.RemoteAddr().String())
	return "ftps3 ready", nil
}

func (d *driver) ClientDisconnected(cc ftpserver.ClientContext) {
	d.s.sessMu.Lock()
	st := d.s.sessions[cc.ID()]
	delete(d.s.sessions, cc.ID())
	d.s.sessMu.Unlock()
	if st != nil {
		_ = st.ctrl.closeForReal()
		d.s.metrics.SessionsActive.Add(-1)
	}
	d.s.log.Info("client disconnected", "session", cc.ID(), "client", cc.RemoteAddr().String())
}

// sessionExtra is what a session keeps between commands.
type sessionExtra struct {
	ctrl     *controlConn
	failures int
}

func (d *driver) AuthUser(cc ftpserver.ClientContext, login, password string) (ftpserver.ClientDriver, error) {
	ex, _ := cc.Extra().(*sessionExtra)
	ip := hostIP(cc.RemoteAddr()).String()
	log := d.s.log.With("session", cc.ID(), "client", cc.RemoteAddr().String(), "user", login)
	if ok, wait := d.s.opts.Throttle.Allowed(ip); !ok {
		d.s.metrics.LoginsThrottled.Add(1)
		log.Warn("login refused: too many failures from this address", "retry_after", wait.Round(time.Second).String())
		return nil, fmt.Errorf("too many failed logins from %s: try again in %s", ip, wait.Round(time.Second))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	user, err := d.s.opts.Users.Authenticate(ctx, login, password)
	if err != nil {
		d.s.opts.Throttle.Failed(ip)
		d.s.metrics.LoginsFailed.Add(1)
		log.Warn("login failed", "err", err)
		time.Sleep(d.s.opts.LoginFailureDelay)
		if ex != nil {
			ex.failures++
			if ex.failures < maxLoginFailuresPerSession {
				ex.ctrl.keepOpenOnce()
			}
		}
		return nil, auth.ErrBadCredentials
	}
	d.s.opts.Throttle.Succeeded(ip)
	d.s.metrics.LoginsOK.Add(1)
	log.Info("login ok", "home", "/"+user.Home, "read_only", user.ReadOnly)
	var ctrl *controlConn
	if ex != nil {
		ctrl = ex.ctrl
	}
	return newSession(d.s, cc, user, ctrl), nil
}

func (d *driver) GetTLSConfig() (*tls.Config, error) { return d.s.dataTLS(), nil }

func (d *driver) WrapPassiveListener(l net.Listener) (net.Listener, error) {
	return d.s.data.wrap(l), nil
}

package ftp

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"time"

	"github.com/ftps3/ftps3/app/auth"
	"github.com/ftps3/ftps3/app/objfs"
)

// Options configure a Server.
type Options struct {
	FS       *objfs.FS // the shared file-system view over the store
	Users    *auth.Users
	Throttle *auth.Throttle
	TLS      *tls.Config // certificate and minimum version
	TLSMode  TLSMode
	// TLSSessionReuse: must data connections resume the control
	// connection's TLS session (sessionreuse.go)?
	TLSSessionReuse SessionReuse

	DataPortsFirst int
	DataPortsCount int
	// Passive chooses the address of PASV replies per client network; the
	// first rule whose network holds the client wins. With none, the
	// address the client connected to.
	Passive []PassiveRule

	IdleTimeout time.Duration // a control connection idle this long is closed
	// LoginTimeout closes a connection that has not logged in by then
	// (default 1 minute).
	LoginTimeout time.Duration
	// DataIdleTimeout ends a transfer whose data connection moved nothing
	// for that long (default 2 minutes); a passive port that no transfer
	// used for that long is closed.
	DataIdleTimeout time.Duration
	// MaxConnections caps control connections in all, per client address,
	// and per address before login (0: default 1000, 100 and 20).
	MaxConnections, MaxConnectionsPerAddress, MaxLoginsPendingPerAddress int
	RequireCloseNotify                                                   bool
	// LoginFailureDelay slows password guessing (default 1 s).
	LoginFailureDelay time.Duration

	Metrics *Metrics
	Logger  *slog.Logger
}

// TLSMode says how clients start TLS on the command port.
type TLSMode int

const (
	// TLSAuto serves both: an implicit client speaks first (a ClientHello),
	// an explicit one waits for the banner, so the first byte tells.
	TLSAuto TLSMode = iota
	// TLSImplicit: TLS from the first byte (ftps://).
	TLSImplicit
	// TLSExplicit: a plaintext banner, then AUTH TLS.
	TLSExplicit
)

// PassiveRule sends clients in Net the address Address (an IPv4 literal or
// a DNS name, resolved and cached for a minute) or, when Lookup is set, the
// address it returns (also cached), e.g. this host's private IPv4.
type PassiveRule struct {
	Net     *net.IPNet
	Address string
	Lookup  func(ctx context.Context) (string, error)
}

// banner greets every client, before and after TLS.
const banner = "ftps3 ready"

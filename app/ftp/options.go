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

	IdleTimeout        time.Duration
	RequireCloseNotify bool
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

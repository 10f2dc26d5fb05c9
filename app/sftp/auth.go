package sftp

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ftps3/ftps3/app/auth"
)

// Logins. Passwords and public keys of the same users as FTPS; failures
// are counted per client address in the throttle FTPS uses too, so a
// stranger guessing over either protocol is locked out of both.
//
// A public key offered without a signature is only a question ("would this
// key do?"): clients with several keys ask about each, so such questions
// are not failures. A connection that offered keys and ended without
// logging in counts as one failure.

var errThrottled = errors.New("too many failed logins from this address: try again later")

// loginAttempt follows the authentication of one connection.
type loginAttempt struct {
	s   *Server
	ip  string
	log *slog.Logger

	keyRefused  bool // a key was offered and was not the user's
	failedLogin bool // a password or key failure was counted
}

func (la *loginAttempt) allowed() error {
	if ok, _ := la.s.opts.Throttle.Allowed(la.ip); !ok {
		la.s.metrics.LoginsThrottled.Add(1)
		return errThrottled
	}
	return nil
}

func (la *loginAttempt) password(meta ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
	// Passwords being checked count as failures until they are, so that
	// parallel guesses cannot all run before the address is locked.
	attempt, _ := la.s.opts.Throttle.Begin(la.ip)
	if attempt == nil {
		la.s.metrics.LoginsThrottled.Add(1)
		return nil, errThrottled
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	usr, err := la.s.opts.Users.Authenticate(ctx, meta.User(), string(pw))
	if errors.Is(err, auth.ErrBusy) {
		attempt.Abandoned() // neither a failure nor a success of this address
		la.s.metrics.LoginsThrottled.Add(1)
		return nil, err
	}
	if err != nil {
		attempt.Failed()
	} else {
		attempt.Succeeded()
	}
	if err != nil {
		la.failedLogin = true
		la.s.metrics.LoginsFailed.Add(1)
		la.log.Warn("login failed", "user", meta.User(), "method", "password", "err", err)
		// Slow guessing down; the client waits for the answer.
		time.Sleep(la.s.opts.LoginFailureDelay)
		return nil, auth.ErrBadCredentials
	}
	return permissions(usr, "password"), nil
}

func (la *loginAttempt) publicKey(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	if err := la.allowed(); err != nil {
		return nil, err
	}
	usr, err := la.s.opts.Users.AuthenticateKey(meta.User(), key)
	if err != nil {
		la.keyRefused = true
		la.log.Debug("public key refused", "user", meta.User(), "key", ssh.FingerprintSHA256(key))
		return nil, err
	}
	// The library calls this before checking the signature (and caches
	// the answer per key and user): the login is carried in the
	// permissions of the attempt that succeeds, never kept here.
	return permissions(usr, "publickey "+ssh.FingerprintSHA256(key)), nil
}

// logAttempt sees every attempt's outcome.
func (la *loginAttempt) logAttempt(meta ssh.ConnMetadata, method string, err error) {
	if err != nil && method != "none" && !errors.Is(err, errThrottled) {
		la.log.Debug("login attempt failed", "user", meta.User(), "method", method, "err", err)
	}
}

func (la *loginAttempt) failed(login, method string, err error) {
	la.failedLogin = true
	la.s.opts.Throttle.Failed(la.ip)
	la.s.metrics.LoginsFailed.Add(1)
	la.log.Warn("login failed", "user", login, "method", method, "err", err)
}

// ended is called when the handshake did not log in.
func (la *loginAttempt) ended(err error) {
	switch {
	case la.keyRefused && !la.failedLogin:
		la.failed("", "publickey", errors.New("no offered key was accepted"))
	case !la.failedLogin:
		la.log.Debug("connection ended before logging in", "err", err)
	}
}

// permissions carry the login and method of a successful attempt to the
// connection (ssh.ServerConn.Permissions).
func permissions(usr *auth.User, method string) *ssh.Permissions {
	return &ssh.Permissions{Extensions: map[string]string{"login": usr.Login, "method": method}}
}

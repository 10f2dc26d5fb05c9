package auth

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Protocols a user may be limited to (User.Protocols).
const (
	ProtocolFTP  = "ftp"  // FTPS
	ProtocolSFTP = "sftp" // SFTP
)

// ErrBadKey is the one answer to an unknown user or a key that is not theirs.
var ErrBadKey = errors.New("wrong user name or key")

// NoPassword is the password of a user who logs in with keys only: it never
// verifies.
type NoPassword struct{}

func (NoPassword) Verify(string) bool { return false }
func (NoPassword) Expensive() bool    { return false }

// HasPassword reports whether the user can log in with a password at all.
func (u *User) HasPassword() bool {
	_, none := u.Password.(NoPassword)
	return u.Password != nil && !none
}

// Allows reports whether the user may log in over protocol (ProtocolFTP or
// ProtocolSFTP): every protocol when Protocols is empty.
func (u *User) Allows(protocol string) bool {
	return len(u.Protocols) == 0 || slices.Contains(u.Protocols, protocol)
}

// ForProtocol returns the users who may log in over protocol.
func ForProtocol(users []User, protocol string) []User {
	var out []User
	for _, u := range users {
		if u.Allows(protocol) {
			out = append(out, u)
		}
	}
	return out
}

// ParseProtocols reads a list such as "sftp" or "ftp,sftp" (spaces and
// commas separate; case does not matter).
func ParseProtocols(s string) ([]string, error) {
	var out []string
	for _, f := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return r == ',' || r == ' ' }) {
		switch f {
		case ProtocolFTP, "ftps":
			f = ProtocolFTP
		case ProtocolSFTP:
		default:
			return nil, fmt.Errorf("%q is not a protocol (ftp or sftp)", f)
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

// ParseAuthorizedKeys reads public keys in OpenSSH's authorized_keys format,
// one a line ("ssh-ed25519 AAAA... comment"); blank lines and # comments are
// skipped. Options before the key type are refused: none would be honoured.
func ParseAuthorizedKeys(text string) ([]ssh.PublicKey, error) {
	var keys []ssh.PublicKey
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, options, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("line %d: not a public key (e.g. ssh-ed25519 AAAA... name): %v", i+1, err)
		}
		if len(options) > 0 {
			return nil, fmt.Errorf("line %d: authorized_keys options (%s) are not supported", i+1, strings.Join(options, ","))
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// AuthenticateKey returns the user if key is one of theirs. It only matches
// the key: the SSH layer has already checked (or will check) that the client
// holds the private half.
func (u *Users) AuthenticateKey(login string, key ssh.PublicKey) (*User, error) {
	usr, _ := u.lookup(login)
	if usr == nil || key == nil {
		return nil, ErrBadKey
	}
	want := key.Marshal()
	for _, k := range usr.PublicKeys {
		if bytes.Equal(k.Marshal(), want) {
			return usr, nil
		}
	}
	return nil, ErrBadKey
}

// Lookup returns the user with this login.
func (u *Users) Lookup(login string) (*User, bool) {
	usr, _ := u.lookup(login)
	return usr, usr != nil
}

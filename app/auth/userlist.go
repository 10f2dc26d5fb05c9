package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
)

// Spec is one user as the user list (JSON: FTP_USERS_JSON, FTP_USERS_FILE,
// the users secret) and the FTP_USERS__i__* variables write it.
type Spec struct {
	Login          string `json:"login"`
	Password       string `json:"password"`
	PasswordHashed string `json:"password_hashed"`
	PasswordSalt   string `json:"password_salt"`
	Home           string `json:"home"`
	ReadOnly       bool   `json:"read_only"`
	// Disabled keeps a user in the list who may not log in (and whose
	// sessions a reload closes).
	Disabled bool `json:"disabled"`
	// PublicKeys are SFTP keys in authorized_keys form, one per entry.
	PublicKeys []string `json:"public_keys"`
	// Protocols limit the user to "ftp" or "sftp" (default: both).
	Protocols []string `json:"protocols"`
}

// FieldError names the field of a Spec that is wrong, as the suffix of its
// variable (LOGIN, PASSWORD, PASSWORD_HASHED, HOME, PUBLIC_KEYS, PROTOCOLS).
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// User turns the spec into a user.
func (s Spec) User() (User, error) {
	fail := func(field, format string, args ...any) (User, error) {
		return User{}, &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
	}
	if s.Login == "" {
		return fail("LOGIN", "missing")
	}
	u := User{Login: s.Login, ReadOnly: s.ReadOnly, Disabled: s.Disabled}
	for i, line := range s.PublicKeys {
		keys, err := ParseAuthorizedKeys(line)
		if err != nil {
			return fail("PUBLIC_KEYS", "user %q, key %d: %v", s.Login, i+1, err)
		}
		u.PublicKeys = append(u.PublicKeys, keys...)
	}
	if len(s.Protocols) > 0 {
		ps, err := ParseProtocols(strings.Join(s.Protocols, ","))
		if err != nil {
			return fail("PROTOCOLS", "user %q: %v", s.Login, err)
		}
		u.Protocols = ps
	}
	switch {
	case s.Password != "" && s.PasswordHashed != "":
		return fail("PASSWORD", "user %q has both PASSWORD and PASSWORD_HASHED; keep one", s.Login)
	case s.Password != "":
		u.Password = Plain(s.Password)
	case s.PasswordHashed != "":
		p, err := ParseHashed(s.PasswordHashed, s.PasswordSalt)
		if err != nil {
			return fail("PASSWORD_HASHED", "user %q: %v", s.Login, err)
		}
		u.Password = p
	case len(u.PublicKeys) > 0:
		u.Password = NoPassword{} // keys only
	default:
		return fail("PASSWORD", "user %q has no PASSWORD or PASSWORD_HASHED", s.Login)
	}
	home, err := CleanHome(s.Home)
	if err != nil {
		return fail("HOME", "user %q: %v", s.Login, err)
	}
	u.Home = home
	return u, nil
}

// ParseUserList reads a JSON list of users; each error names the entry and
// the field ("[2].PASSWORD_HASHED: ...").
func ParseUserList(data []byte) ([]User, error) {
	var specs []Spec
	if err := json.Unmarshal(data, &specs); err != nil {
		return nil, fmt.Errorf("not a JSON list of users ([{\"login\": ..., \"password\": ...}]): %w", err)
	}
	var users []User
	var errs []error
	for i, s := range specs {
		u, err := s.User()
		if err != nil {
			errs = append(errs, fmt.Errorf("[%d].%w", i, err))
			continue
		}
		users = append(users, u)
	}
	return users, errors.Join(errs...)
}

// CleanHome turns a home directory into a key prefix: "" or "a/b/".
func CleanHome(h string) (string, error) {
	if h == "" || h == "/" {
		return "", nil
	}
	for _, seg := range strings.Split(strings.Trim(h, "/"), "/") {
		if seg == ".." || seg == "." || seg == "" {
			return "", fmt.Errorf("%q: use a plain path like incoming/partner (no '.', '..' or '//')", h)
		}
	}
	return path.Clean(strings.Trim(h, "/")) + "/", nil
}

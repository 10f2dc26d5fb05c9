// Package auth holds the FTP users, checks their passwords and throttles
// failed logins per client address.
package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// AioftpsIterations is the PBKDF2-HMAC-SHA256 iteration count of aioftps3's
// FTP_USERS__i__PASSWORD_HASHED values.
const AioftpsIterations = 1_000_000

// Password checks a password against what is stored for a user.
type Password interface {
	Verify(password string) bool
	// Expensive passwords are checked under a concurrency limit and cached.
	Expensive() bool
}

// Plain is a password kept in clear in the configuration.
type Plain string

func (p Plain) Verify(password string) bool {
	a, b := sha256.Sum256([]byte(p)), sha256.Sum256([]byte(password))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}
func (Plain) Expensive() bool { return false }

// PBKDF2 is aioftps3's format: base64(PBKDF2-HMAC-SHA256(password, salt,
// 1,000,000 iterations, 32 bytes)), with the salt as a plain string.
type PBKDF2 struct {
	Hash       []byte
	Salt       string
	Iterations int
}

func (p PBKDF2) Verify(password string) bool {
	key, err := pbkdf2.Key(sha256.New, password, []byte(p.Salt), p.Iterations, len(p.Hash))
	return err == nil && hmac.Equal(key, p.Hash)
}
func (PBKDF2) Expensive() bool { return true }

// Bcrypt is a bcrypt hash ("$2a$", "$2b$" or "$2y$").
type Bcrypt []byte

func (b Bcrypt) Verify(password string) bool {
	return bcrypt.CompareHashAndPassword(b, []byte(password)) == nil
}
func (Bcrypt) Expensive() bool { return true }

// ParseHashed reads a stored hash: a bcrypt hash, or aioftps3's base64
// PBKDF2 hash, which needs its salt.
func ParseHashed(hashed, salt string) (Password, error) {
	if strings.HasPrefix(hashed, "$2") {
		if _, err := bcrypt.Cost([]byte(hashed)); err != nil {
			return nil, fmt.Errorf("not a valid bcrypt hash: %w", err)
		}
		return Bcrypt(hashed), nil
	}
	raw, err := base64.StdEncoding.DecodeString(hashed)
	if err != nil {
		return nil, errors.New("neither a bcrypt hash ($2...) nor base64 (aioftps3's PBKDF2 format)")
	}
	if len(raw) < 16 {
		return nil, fmt.Errorf("PBKDF2 hash is %d bytes, want at least 16", len(raw))
	}
	if salt == "" {
		return nil, errors.New("a PBKDF2 hash needs its salt (PASSWORD_SALT)")
	}
	return PBKDF2{Hash: raw, Salt: salt, Iterations: AioftpsIterations}, nil
}

// HashPBKDF2 makes an aioftps3-compatible hash (for tests and tooling).
func HashPBKDF2(password, salt string) string {
	key, _ := pbkdf2.Key(sha256.New, password, []byte(salt), AioftpsIterations, sha256.Size)
	return base64.StdEncoding.EncodeToString(key)
}

// dummyLike returns a password of the same kind and cost as p, that no
// password matches in practice: verifying it costs what verifying p does.
func dummyLike(p Password) Password {
	secret := make([]byte, 24)
	rand.Read(secret)
	switch p := p.(type) {
	case PBKDF2:
		hash := make([]byte, len(p.Hash))
		rand.Read(hash)
		return PBKDF2{Hash: hash, Salt: base64.StdEncoding.EncodeToString(secret), Iterations: p.Iterations}
	case Bcrypt:
		cost, err := bcrypt.Cost(p)
		if err != nil {
			cost = bcrypt.DefaultCost
		}
		h, err := bcrypt.GenerateFromPassword(secret, cost)
		if err == nil {
			return Bcrypt(h)
		}
	}
	return p
}

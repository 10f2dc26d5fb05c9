package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/ssh"
)

// ErrBadCredentials is the one answer to an unknown user or a wrong password.
var ErrBadCredentials = errors.New("wrong user name or password")

// User is one FTP account.
type User struct {
	Login    string
	Password Password
	// Home is the key prefix the user is confined to ("" is the bucket root,
	// otherwise it ends with "/").
	Home     string
	ReadOnly bool
	// PublicKeys log the user in over SFTP (keys.go); a user with keys and
	// no password has Password NoPassword{}.
	PublicKeys []ssh.PublicKey
	// Protocols the user may log in over (ProtocolFTP, ProtocolSFTP); empty
	// means all.
	Protocols []string
}

// Users checks logins. Expensive hashes (PBKDF2 with a million iterations,
// bcrypt) run at most NumCPU/2 at a time so that a burst of logins cannot
// take the CPU from running transfers, and a password that verified once is
// remembered as a keyed HMAC so the next login of that user is instant.
type Users struct {
	byLogin map[string]*User
	slots   chan struct{}
	key     [32]byte
	// dummy is verified for unknown logins, at the cost of the users'
	// hashes, so that the time of an answer does not tell which logins exist.
	dummy Password
	// waiting counts logins queued for a verification slot; past
	// maxWaitingPerSlot per slot, new ones are turned away at once, so a
	// flood of guesses cannot make real logins wait without bound.
	waiting       atomic.Int64
	verifications atomic.Int64 // expensive verifications run (for tests)

	mu       sync.Mutex
	verified map[string][]byte // login → HMAC(key, password) of the last good password
}

// Validate checks a user list: logins unique and non-empty, every user with
// a password.
func Validate(users []User) error {
	seen := make(map[string]bool, len(users))
	for i, usr := range users {
		switch {
		case usr.Login == "":
			return fmt.Errorf("user %d has an empty login", i)
		case usr.Password == nil:
			return fmt.Errorf("user %q has no password", usr.Login)
		case seen[usr.Login]:
			return fmt.Errorf("user %q is defined twice", usr.Login)
		}
		seen[usr.Login] = true
	}
	return nil
}

// NewUsers indexes a valid user list (see Validate) by login.
func NewUsers(users []User) (*Users, error) {
	if err := Validate(users); err != nil {
		return nil, err
	}
	u := &Users{
		byLogin:  make(map[string]*User, len(users)),
		slots:    make(chan struct{}, max(1, runtime.NumCPU()/2)),
		verified: map[string][]byte{},
	}
	rand.Read(u.key[:])
	for i := range users {
		usr := users[i]
		u.byLogin[usr.Login] = &usr
		if u.dummy == nil && usr.Password.Expensive() {
			u.dummy = dummyLike(usr.Password)
		}
	}
	return u, nil
}

// ErrBusy turns a login away while too many are being verified.
var ErrBusy = errors.New("too many logins are being checked: try again in a moment")

// maxWaitingPerSlot bounds the logins queued per verification slot.
const maxWaitingPerSlot = 4

// verify checks an expensive password in a verification slot.
func (u *Users) verify(ctx context.Context, p Password, password string) (bool, error) {
	if u.waiting.Add(1) > int64(maxWaitingPerSlot*cap(u.slots)) {
		u.waiting.Add(-1)
		return false, ErrBusy
	}
	select {
	case u.slots <- struct{}{}:
		u.waiting.Add(-1)
	case <-ctx.Done():
		u.waiting.Add(-1)
		return false, ctx.Err()
	}
	defer func() { <-u.slots }()
	u.verifications.Add(1)
	return p.Verify(password), nil
}

// Len is the number of users.
func (u *Users) Len() int { return len(u.byLogin) }

// Authenticate returns the user if the password is right.
func (u *Users) Authenticate(ctx context.Context, login, password string) (*User, error) {
	usr, ok := u.byLogin[login]
	if !ok {
		if u.dummy != nil {
			if _, err := u.verify(ctx, u.dummy, password); err != nil {
				return nil, err // as a known user's would
			}
		}
		return nil, ErrBadCredentials
	}
	if !usr.Password.Expensive() {
		if usr.Password.Verify(password) {
			return usr, nil
		}
		return nil, ErrBadCredentials
	}
	mac := hmac.New(sha256.New, u.key[:])
	mac.Write([]byte(password))
	sum := mac.Sum(nil)
	u.mu.Lock()
	known := u.verified[login]
	u.mu.Unlock()
	if known != nil && hmac.Equal(known, sum) {
		return usr, nil
	}
	ok, err := u.verify(ctx, usr.Password, password)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrBadCredentials
	}
	u.mu.Lock()
	u.verified[login] = sum
	u.mu.Unlock()
	return usr, nil
}

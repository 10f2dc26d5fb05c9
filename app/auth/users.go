package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"slices"
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
	// Disabled users stay in the list but may not log in.
	Disabled bool
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
//
// The list can be replaced while running (Replace, reload.go): each login
// reads one snapshot, and a password remembered for a user counts only for
// the same version of that user.
type Users struct {
	*usersCore
	protocol string // "": every user; else only those who may use it
}

// usersCore is what every protocol's view of the users shares.
type usersCore struct {
	set   atomic.Pointer[userSet]
	slots chan struct{}
	key   [32]byte
	// waiting counts logins queued for a verification slot; past
	// maxWaitingPerSlot per slot, new ones are turned away at once, so a
	// flood of guesses cannot make real logins wait without bound.
	waiting       atomic.Int64
	verifications atomic.Int64 // expensive verifications run (for tests)

	mu       sync.Mutex
	verified map[string]verifiedPassword // login → the last good password
}

// userSet is one version of the user list.
type userSet struct {
	byLogin map[string]*User
	// dummy is verified for unknown logins, at the cost of the users'
	// hashes, so that the time of an answer does not tell which logins exist.
	dummy Password
}

// verifiedPassword remembers a good password of one version of a user.
type verifiedPassword struct {
	user *User
	sum  []byte // HMAC(key, password)
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
	u := &Users{usersCore: &usersCore{
		slots:    make(chan struct{}, max(1, runtime.NumCPU()/2)),
		verified: map[string]verifiedPassword{},
	}}
	rand.Read(u.key[:])
	if _, err := u.Replace(users); err != nil {
		return nil, err
	}
	return u, nil
}

// Change says what a Replace changed.
type Change struct {
	Added, Changed, Removed []string // logins; Removed includes users now disabled
}

// Replace puts a new user list in place, whole, if it is valid; logins in
// progress finish with the version they started with.
func (u *usersCore) Replace(users []User) (Change, error) {
	if err := Validate(users); err != nil {
		return Change{}, err
	}
	next := &userSet{byLogin: make(map[string]*User, len(users))}
	for i := range users {
		usr := users[i]
		next.byLogin[usr.Login] = &usr
		if next.dummy == nil && usr.Password.Expensive() {
			next.dummy = dummyLike(usr.Password)
		}
	}
	var ch Change
	prev := u.set.Swap(next)
	var old map[string]*User
	if prev != nil {
		old = prev.byLogin
	}
	for login, usr := range next.byLogin {
		was, ok := old[login]
		switch {
		case !ok || was.Disabled && !usr.Disabled:
			ch.Added = append(ch.Added, login)
		case usr.Disabled && !was.Disabled:
			ch.Removed = append(ch.Removed, login)
		case !sameUser(was, usr):
			ch.Changed = append(ch.Changed, login)
		}
	}
	for login, was := range old {
		if _, ok := next.byLogin[login]; !ok && !was.Disabled {
			ch.Removed = append(ch.Removed, login)
		}
	}
	u.mu.Lock()
	for login, v := range u.verified {
		if now := next.byLogin[login]; now != nil && sameUser(v.user, now) {
			u.verified[login] = verifiedPassword{user: now, sum: v.sum} // the same user, a new version
		} else {
			delete(u.verified, login)
		}
	}
	u.mu.Unlock()
	slices.Sort(ch.Added)
	slices.Sort(ch.Changed)
	slices.Sort(ch.Removed)
	return ch, nil
}

// sameUser reports whether two versions of a user are the same in every
// field.
func sameUser(a, b *User) bool {
	if a.Login != b.Login || a.Home != b.Home || a.ReadOnly != b.ReadOnly || a.Disabled != b.Disabled ||
		!slices.Equal(a.Protocols, b.Protocols) || len(a.PublicKeys) != len(b.PublicKeys) ||
		fmt.Sprintf("%T %v", a.Password, a.Password) != fmt.Sprintf("%T %v", b.Password, b.Password) {
		return false
	}
	for i := range a.PublicKeys {
		if !bytes.Equal(a.PublicKeys[i].Marshal(), b.PublicKeys[i].Marshal()) {
			return false
		}
	}
	return true
}

// Current reports whether usr is still the user of that login in the list
// now (a reload may have removed, disabled or changed them while their
// login was being checked).
func (u *Users) Current(usr *User) bool {
	cur, _ := u.lookup(usr.Login)
	return cur != nil && (cur == usr || sameUser(cur, usr))
}

// For is the same users, reloads included, as seen over one protocol: only
// those who may use it log in.
func (u *Users) For(protocol string) *Users {
	return &Users{usersCore: u.usersCore, protocol: protocol}
}

// lookup is the enabled user with this login in the current list, if the
// view's protocol is allowed to them.
func (u *Users) lookup(login string) (*User, *userSet) {
	set := u.set.Load()
	usr := set.byLogin[login]
	if usr == nil || usr.Disabled || u.protocol != "" && !usr.Allows(u.protocol) {
		return nil, set
	}
	return usr, set
}

// ErrBusy turns a login away while too many are being verified.
var ErrBusy = errors.New("too many logins are being checked: try again in a moment")

// maxWaitingPerSlot bounds the logins queued per verification slot.
const maxWaitingPerSlot = 4

// verify checks an expensive password in a verification slot.
func (u *usersCore) verify(ctx context.Context, p Password, password string) (bool, error) {
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

// Len is the number of users in the current list.
func (u *Users) Len() int { return len(u.set.Load().byLogin) }

// Authenticate returns the user if the password is right.
func (u *Users) Authenticate(ctx context.Context, login, password string) (*User, error) {
	usr, set := u.lookup(login)
	if usr == nil {
		if set.dummy != nil {
			if _, err := u.verify(ctx, set.dummy, password); err != nil {
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
	if known.user == usr && hmac.Equal(known.sum, sum) {
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
	u.verified[login] = verifiedPassword{user: usr, sum: sum}
	u.mu.Unlock()
	return usr, nil
}

package auth

import (
	"sync"
	"time"
)

// Throttle counts failed logins per client address. After MaxFailures within
// Window, that address is refused for Lockout. It is keyed by address, not by
// user, so a stranger guessing passwords cannot lock a real user out.
type Throttle struct {
	MaxFailures int
	Window      time.Duration
	Lockout     time.Duration

	mu   sync.Mutex
	byIP map[string]*failures
	now  func() time.Time
}

type failures struct {
	count       int
	inFlight    int // attempts being verified now
	first       time.Time
	lockedUntil time.Time
}

// NewThrottle returns a throttle; zero values get defaults (10 failures in
// 10 minutes lock the address for 10 minutes).
func NewThrottle(maxFailures int, window, lockout time.Duration) *Throttle {
	if maxFailures <= 0 {
		maxFailures = 10
	}
	if window <= 0 {
		window = 10 * time.Minute
	}
	if lockout <= 0 {
		lockout = 10 * time.Minute
	}
	return &Throttle{MaxFailures: maxFailures, Window: window, Lockout: lockout, byIP: map[string]*failures{}, now: time.Now}
}

// Allowed reports whether ip may try to log in, and if not, for how long.
func (t *Throttle) Allowed(ip string) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.byIP[ip]
	if f == nil {
		return true, 0
	}
	now := t.now()
	if now.Before(f.lockedUntil) {
		return false, f.lockedUntil.Sub(now)
	}
	return true, 0
}

// Begin starts a login attempt from ip. Attempts being verified count as
// failures until they end, so that parallel guesses cannot all run before
// the first failure is recorded. If it is allowed, end must be called with
// the outcome.
func (t *Throttle) Begin(ip string) (allowed bool, wait time.Duration, end func(ok bool)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	f := t.entryLocked(ip, now)
	if now.Before(f.lockedUntil) {
		return false, f.lockedUntil.Sub(now), nil
	}
	if now.Sub(f.first) > t.Window && f.inFlight == 0 {
		f.count, f.first = 0, now
	}
	if f.count+f.inFlight >= t.MaxFailures {
		return false, time.Second, nil // the attempts in flight may still succeed
	}
	f.inFlight++
	var once sync.Once
	return true, 0, func(ok bool) {
		once.Do(func() {
			t.mu.Lock()
			f.inFlight--
			t.mu.Unlock()
			if ok {
				t.Succeeded(ip)
			} else {
				t.Failed(ip)
			}
		})
	}
}

// Failed records a failed login from ip.
func (t *Throttle) Failed(ip string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	f := t.entryLocked(ip, now)
	if now.Sub(f.first) > t.Window {
		f.count, f.first = 0, now
	}
	f.count++
	if f.count >= t.MaxFailures {
		f.lockedUntil = now.Add(t.Lockout)
		f.count, f.first = 0, now
	}
}

// Succeeded forgets the failures of ip (not its attempts in flight).
func (t *Throttle) Succeeded(ip string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if f := t.byIP[ip]; f != nil && f.inFlight > 0 {
		f.count = 0
		return
	}
	delete(t.byIP, ip)
}

// entryLocked is ip's entry, made if need be.
func (t *Throttle) entryLocked(ip string, now time.Time) *failures {
	t.gc(now)
	f := t.byIP[ip]
	if f == nil {
		f = &failures{first: now}
		t.byIP[ip] = f
	}
	return f
}

// gc drops stale entries so the map cannot grow without bound.
func (t *Throttle) gc(now time.Time) {
	if len(t.byIP) < 10_000 {
		return
	}
	for ip, f := range t.byIP {
		if now.Sub(f.first) > t.Window && now.After(f.lockedUntil) && f.inFlight == 0 {
			delete(t.byIP, ip)
		}
	}
}

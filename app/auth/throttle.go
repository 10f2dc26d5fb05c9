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

// Begin starts a login attempt from ip, or says for how long ip is refused.
// Attempts being verified count as failures until they end, so that
// parallel guesses cannot all run before the first failure is recorded. An
// attempt begun must end: Succeeded, Failed, or Abandoned (neither: the
// check could not run).
func (t *Throttle) Begin(ip string) (*Attempt, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	f := t.entryLocked(ip, now)
	if now.Before(f.lockedUntil) {
		return nil, f.lockedUntil.Sub(now)
	}
	if now.Sub(f.first) > t.Window && f.inFlight == 0 {
		f.count, f.first = 0, now
	}
	if f.count+f.inFlight >= t.MaxFailures {
		return nil, time.Second // the attempts in flight may still succeed
	}
	f.inFlight++
	return &Attempt{t: t, ip: ip, f: f}, 0
}

// Attempt is a login attempt in flight (Throttle.Begin).
type Attempt struct {
	t    *Throttle
	ip   string
	f    *failures
	once sync.Once
}

func (a *Attempt) end(record func(string)) {
	a.once.Do(func() {
		a.t.mu.Lock()
		a.f.inFlight--
		a.t.mu.Unlock()
		if record != nil {
			record(a.ip)
		}
	})
}

// Succeeded ends the attempt and forgets the address's failures.
func (a *Attempt) Succeeded() { a.end(a.t.Succeeded) }

// Failed ends the attempt as a failure of the address.
func (a *Attempt) Failed() { a.end(a.t.Failed) }

// Abandoned ends an attempt whose check could not run (the verification
// queue was full): neither a failure nor a success of the address.
func (a *Attempt) Abandoned() { a.end(nil) }

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

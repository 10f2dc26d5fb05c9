package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestPasswordFormats(t *testing.T) {
	bc, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	pb, err := ParseHashed(HashPBKDF2("s3cret", "salty"), "salty")
	if err != nil {
		t.Fatal(err)
	}
	bcp, err := ParseHashed(string(bc), "")
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]Password{"plain": Plain("s3cret"), "pbkdf2": pb, "bcrypt": bcp} {
		if !p.Verify("s3cret") || p.Verify("s3cret ") || p.Verify("") {
			t.Errorf("%s: wrong verdicts", name)
		}
	}
}

// A hash computed by Python, as aioftps3 does:
// base64(hashlib.pbkdf2_hmac('sha256', b'password', b'salt', 1000000)).
func TestAioftps3KnownHash(t *testing.T) {
	p, err := ParseHashed("UFESpZC+YaydOiNb8KjuzqQOVGUuwOPCV8InyapeZkw=", "salt")
	if err != nil {
		t.Fatal(err)
	}
	if !p.Verify("password") {
		t.Fatal("aioftps3 hash of 'password' with salt 'salt' not accepted")
	}
}

func TestParseHashedErrors(t *testing.T) {
	for _, c := range []struct{ hashed, salt string }{
		{"not base64!", "s"}, {"AAAA", "s"}, {HashPBKDF2("x", "s"), ""}, {"$2b$broken", ""},
	} {
		if _, err := ParseHashed(c.hashed, c.salt); err == nil {
			t.Errorf("ParseHashed(%q, %q) accepted", c.hashed, c.salt)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	pb, _ := ParseHashed(HashPBKDF2("pw", "salt"), "salt")
	users, err := NewUsers([]User{{Login: "alice", Password: Plain("pw")}, {Login: "bob", Password: pb}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if u, err := users.Authenticate(ctx, "alice", "pw"); err != nil || u.Login != "alice" {
		t.Fatal(u, err)
	}
	for _, c := range [][2]string{{"alice", "PW"}, {"carol", "pw"}, {"", ""}, {"bob", "nope"}} {
		if _, err := users.Authenticate(ctx, c[0], c[1]); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("%q/%q: err = %v", c[0], c[1], err)
		}
	}
	start := time.Now()
	if _, err := users.Authenticate(ctx, "bob", "pw"); err != nil {
		t.Fatal(err)
	}
	first := time.Since(start)
	start = time.Now()
	if _, err := users.Authenticate(ctx, "bob", "pw"); err != nil {
		t.Fatal(err)
	}
	if again := time.Since(start); again*10 > first {
		t.Logf("second login took %v, first %v: cache not effective?", again, first)
	}
	if _, err := users.Authenticate(ctx, "bob", "wrong"); !errors.Is(err, ErrBadCredentials) {
		t.Fatal("wrong password accepted after a cached good one")
	}
	if _, err := NewUsers([]User{{Login: "a", Password: Plain("x")}, {Login: "a", Password: Plain("y")}}); err == nil {
		t.Error("duplicate login accepted")
	}
}

func TestThrottleLocksAddressNotUser(t *testing.T) {
	th := NewThrottle(3, time.Minute, 5*time.Minute)
	now := time.Unix(1000, 0)
	th.now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		if ok, _ := th.Allowed("1.2.3.4"); !ok {
			t.Fatalf("refused after %d failures", i)
		}
		th.Failed("1.2.3.4")
	}
	if ok, wait := th.Allowed("1.2.3.4"); ok || wait != 5*time.Minute {
		t.Fatalf("attacker allowed=%v wait=%v", ok, wait)
	}
	if ok, _ := th.Allowed("5.6.7.8"); !ok {
		t.Fatal("another address was locked out")
	}
	now = now.Add(5*time.Minute + time.Second)
	if ok, _ := th.Allowed("1.2.3.4"); !ok {
		t.Fatal("still locked after the lockout")
	}
	th.Failed("9.9.9.9")
	th.Succeeded("9.9.9.9")
	if len(th.byIP) != 1 {
		t.Errorf("entries = %d", len(th.byIP))
	}
}

// Parallel guesses from one address: the attempts being verified count as
// failures, so no more than MaxFailures run before the address is locked.
func TestThrottleCountsAttemptsInFlight(t *testing.T) {
	th := NewThrottle(5, time.Minute, time.Minute)
	var attempts []*Attempt
	for range 40 {
		if a, _ := th.Begin("1.2.3.4"); a != nil {
			attempts = append(attempts, a)
		}
	}
	if len(attempts) != 5 {
		t.Fatalf("%d parallel attempts admitted, want 5", len(attempts))
	}
	attempts[0].Abandoned() // a check that could not run: no failure, no success
	if a, _ := th.Begin("1.2.3.4"); a == nil {
		t.Fatal("an abandoned attempt still counts")
	} else {
		attempts[0] = a
	}
	for _, a := range attempts {
		a.Failed()
	}
	if a, wait := th.Begin("1.2.3.4"); a != nil || wait < time.Minute-time.Second {
		t.Fatalf("after 5 failures: allowed=%v wait=%v", a != nil, wait)
	}
	a, _ := th.Begin("5.6.7.8")
	if a == nil {
		t.Fatal("another address was refused")
	}
	a.Succeeded()
}

// An unknown login costs the same hash verification as a known one with a
// wrong password, so the answer's timing does not reveal which users exist.
func TestUnknownUserCostsAVerification(t *testing.T) {
	h, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	pb, _ := ParseHashed(HashPBKDF2("pw", "salt"), "salt")
	for name, p := range map[string]Password{"bcrypt": Bcrypt(h), "pbkdf2": pb} {
		users, err := NewUsers([]User{{Login: "bob", Password: p}})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		users.Authenticate(ctx, "bob", "wrong")
		users.Authenticate(ctx, "nobody", "wrong")
		if n := users.verifications.Load(); n != 2 {
			t.Errorf("%s: %d verifications for a wrong password and an unknown user, want 2", name, n)
		}
		if _, err := users.Authenticate(ctx, "nobody", "pw"); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("%s: the dummy hash let an unknown user in: %v", name, err)
		}
	}
}

// Under a flood of guesses, logins queue only so deep: the rest are turned
// away at once with ErrBusy instead of waiting without bound, and a user
// whose password was verified before gets in without a slot.
func TestLoginQueueIsBounded(t *testing.T) {
	h, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	users, err := NewUsers([]User{{Login: "bob", Password: Bcrypt(h)}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := users.Authenticate(ctx, "bob", "pw"); err != nil {
		t.Fatal(err)
	}
	for range cap(users.slots) {
		users.slots <- struct{}{} // every slot busy
	}
	results := make(chan error, 100)
	for range 100 {
		go func() {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			_, err := users.Authenticate(ctx, "mallory", "guess")
			results <- err
		}()
	}
	busy := 0
	for range 100 - maxWaitingPerSlot*cap(users.slots) {
		if err := <-results; errors.Is(err, ErrBusy) {
			busy++
		}
	}
	if busy != 100-maxWaitingPerSlot*cap(users.slots) {
		t.Errorf("%d guesses turned away at once, want %d", busy, 100-maxWaitingPerSlot*cap(users.slots))
	}
	if _, err := users.Authenticate(ctx, "bob", "pw"); err != nil {
		t.Errorf("a known user during the flood: %v", err)
	}
	for range cap(users.slots) {
		<-users.slots
	}
	for range maxWaitingPerSlot * cap(users.slots) {
		<-results
	}
}

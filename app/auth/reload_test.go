package auth

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
	"golang.org/x/crypto/bcrypt"
)

// fakeSecrets follows GetSecretValue's documented behaviour for what a
// SecretSource uses: the AWSCURRENT version's id and string, or an API
// error (AccessDeniedException, ThrottlingException, ResourceNotFoundException).
type fakeSecrets struct {
	mu      sync.Mutex
	id      string
	version int
	value   string
	err     error
	calls   int
}

func (f *fakeSecrets) put(value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version++
	f.value = value
}

func (f *fakeSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	if aws.ToString(in.SecretId) != f.id {
		return nil, &smithy.GenericAPIError{Code: "ResourceNotFoundException", Message: "Secrets Manager can't find the specified secret."}
	}
	return &secretsmanager.GetSecretValueOutput{
		ARN: aws.String("arn:aws:secretsmanager:eu-west-2:123456789012:secret:" + f.id), Name: aws.String(f.id),
		VersionId: aws.String(strings.Repeat("0", 31) + string(rune('0'+f.version%10))), SecretString: aws.String(f.value),
		VersionStages: []string{"AWSCURRENT"},
	}, nil
}

const (
	aliceJSON    = `{"login":"alice","password":"one"}`
	bobJSON      = `{"login":"bob","password":"two"}`
	aliceNewJSON = `{"login":"alice","password":"changed"}`
)

func list(entries ...string) string { return "[" + strings.Join(entries, ",") + "]" }

func newReloader(t *testing.T, sources ...Source) (*Users, *Reloader, *[]string) {
	t.Helper()
	users, err := NewUsers(nil)
	if err != nil {
		t.Fatal(err)
	}
	var revoked []string
	r := &Reloader{Users: users, Sources: sources, Log: slog.New(slog.DiscardHandler),
		Revoked: func(l []string) { revoked = append(revoked, l...) }}
	if _, err := r.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	return users, r, &revoked
}

func canLogIn(u *Users, login, password string) bool {
	_, err := u.Authenticate(context.Background(), login, password)
	return err == nil
}

// The secret is read at its current version; an unchanged version is not
// parsed again; each change takes effect whole; a version that does not
// parse or validate, and AccessDenied or throttling, keep the previous list.
func TestSecretSourceReload(t *testing.T) {
	sm := &fakeSecrets{id: "ftps3/users"}
	sm.put(list(aliceJSON))
	users, r, revoked := newReloader(t, StaticSource{Users: []User{{Login: "ops", Password: Plain("env")}}}, SecretSource{API: sm, SecretID: "ftps3/users"})
	ctx := context.Background()
	if !canLogIn(users, "alice", "one") || !canLogIn(users, "ops", "env") {
		t.Fatal("first load")
	}
	if ch, err := r.Reload(ctx); err != nil || ch.Added != nil || r.metrics.unchanged.Load() != 1 {
		t.Fatalf("unchanged secret: %+v %v", ch, err)
	}

	sm.put(list(aliceNewJSON, bobJSON)) // a new user, a changed password
	ch, err := r.Reload(ctx)
	if err != nil || strings.Join(ch.Added, ",") != "bob" || strings.Join(ch.Changed, ",") != "alice" {
		t.Fatalf("change: %+v %v", ch, err)
	}
	if canLogIn(users, "alice", "one") || !canLogIn(users, "alice", "changed") || !canLogIn(users, "bob", "two") {
		t.Error("after the change: the old password works or a new login does not")
	}
	// A remembered good password of a hashed user does not outlive a change.
	h, _ := bcrypt.GenerateFromPassword([]byte("old"), bcrypt.MinCost)
	h2, _ := bcrypt.GenerateFromPassword([]byte("new"), bcrypt.MinCost)
	sm.put(list(aliceNewJSON, bobJSON, `{"login":"hashed","password_hashed":"`+string(h)+`"}`))
	r.Reload(ctx)
	if !canLogIn(users, "hashed", "old") || !canLogIn(users, "hashed", "old") {
		t.Fatal("hashed user")
	}
	sm.put(list(aliceNewJSON, bobJSON, `{"login":"hashed","password_hashed":"`+string(h2)+`"}`))
	r.Reload(ctx)
	if canLogIn(users, "hashed", "old") || !canLogIn(users, "hashed", "new") {
		t.Error("the remembered old password outlived the change")
	}

	for name, bad := range map[string]string{
		"not JSON":       `[{"login":`,
		"no password":    list(`{"login":"carol"}`),
		"duplicate":      list(bobJSON, bobJSON),
		"bad hash":       list(`{"login":"dave","password_hashed":"$2b$nonsense"}`),
		"clash with env": list(`{"login":"ops","password":"x"}`),
	} {
		sm.put(bad)
		if _, err := r.Reload(ctx); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if !canLogIn(users, "bob", "two") || !canLogIn(users, "alice", "changed") {
			t.Fatalf("%s: the previous list did not stay", name)
		}
	}
	for _, code := range []string{"AccessDeniedException", "ThrottlingException"} {
		sm.err = &smithy.GenericAPIError{Code: code}
		if _, err := r.Reload(ctx); err == nil || !strings.Contains(err.Error(), code) {
			t.Errorf("%s: %v", code, err)
		}
		if !canLogIn(users, "bob", "two") {
			t.Fatalf("%s: users lost", code)
		}
	}
	sm.err = nil

	sm.put(list(aliceNewJSON, `{"login":"bob","password":"two","disabled":true}`))
	if ch, err := r.Reload(ctx); err != nil || strings.Join(ch.Removed, ",") != "bob,hashed" {
		t.Fatalf("disable bob: %+v %v", ch, err)
	}
	sm.put(list(`{"login":"ops2","password":"x"}`))
	if ch, err := r.Reload(ctx); err != nil || strings.Join(ch.Removed, ",") != "alice" {
		t.Fatalf("remove alice: %+v %v", ch, err)
	}
	if canLogIn(users, "bob", "two") || canLogIn(users, "alice", "changed") {
		t.Error("a disabled or removed user still logs in")
	}
	if strings.Join(*revoked, ",") != "bob,hashed,alice" {
		t.Errorf("revoked: %v", *revoked)
	}
	if r.metrics.rejected.Load() != 7 {
		t.Errorf("rejected reloads counted: %d", r.metrics.rejected.Load())
	}
}

// A file source: its hash is its version.
func TestFileSourceReload(t *testing.T) {
	p := filepath.Join(t.TempDir(), "users.json")
	write := func(s string) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(list(aliceJSON))
	users, r, _ := newReloader(t, FileSource{Path: p})
	write(list(aliceJSON, bobJSON))
	if _, err := r.Reload(context.Background()); err != nil || !canLogIn(users, "bob", "two") {
		t.Fatalf("added bob: %v", err)
	}
	os.Remove(p)
	if _, err := r.Reload(context.Background()); !errors.Is(err, os.ErrNotExist) || !canLogIn(users, "bob", "two") {
		t.Fatalf("missing file: %v", err)
	}
	var b strings.Builder
	r.WritePrometheus(&b)
	for _, want := range []string{"ftps3_users_loaded 2", `ftps3_users_reloads_total{result="rejected"} 1`, `ftps3_users_reloads_total{result="ok"} 2`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, b.String())
		}
	}
}

// Logins in flight while the list is replaced (the same users, a new
// version each time) all succeed, and a password remembered from before a
// change does not outlive it.
func TestReloadUnderLogins(t *testing.T) {
	sm := &fakeSecrets{id: "u"}
	var entries []string
	for i := range 20 {
		entries = append(entries, `{"login":"u`+string(rune('a'+i))+`","password":"pw"}`)
	}
	sm.put(list(entries...))
	users, r, _ := newReloader(t, SecretSource{API: sm, SecretID: "u"})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := users.Authenticate(context.Background(), "u"+string(rune('a'+i%20)), "pw"); err != nil {
				errs <- err
			}
		}()
	}
	for range 20 {
		sm.put(list(entries...) + " ") // a new version of the same list
		if _, err := r.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a login lost to a reload: %v", err)
	}
}

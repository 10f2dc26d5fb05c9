package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/ftps3/ftps3/app/promtext"
)

// Users change while the gateway runs: a Reloader reads the user list from
// its sources every interval and on demand (SIGHUP), and puts a new version
// in place whole, or not at all.

// A Source yields part of the user list. Its version changes when its
// content does (a secret's version id, a file's hash): given the version it
// returned last time, a source whose content is the same says so without
// parsing it (users nil, same version).
type Source interface {
	Name() string
	Load(ctx context.Context, last string) (version string, users []User, err error)
}

// StaticSource is a list fixed at start (the environment's users).
type StaticSource struct{ Users []User }

func (s StaticSource) Name() string { return "environment" }
func (s StaticSource) Load(context.Context, string) (string, []User, error) {
	return "static", s.Users, nil
}

// FileSource is a JSON user list in a file (FTP_USERS_FILE).
type FileSource struct{ Path string }

func (s FileSource) Name() string { return "FTP_USERS_FILE " + s.Path }
func (s FileSource) Load(_ context.Context, last string) (string, []User, error) {
	data, err := os.ReadFile(s.Path)
	if err != nil {
		return "", nil, err
	}
	sum := sha256.Sum256(data)
	version := hex.EncodeToString(sum[:])
	if version == last {
		return version, nil, nil
	}
	users, err := ParseUserList(data)
	return version, users, err
}

// SecretsAPI is the part of AWS Secrets Manager a SecretSource uses.
type SecretsAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// SecretSource is a JSON user list in a Secrets Manager secret
// (FTP_USERS_SECRET_ID: its ARN or name), read at its AWSCURRENT version.
type SecretSource struct {
	API      SecretsAPI
	SecretID string
}

func (s SecretSource) Name() string { return "FTP_USERS_SECRET_ID " + s.SecretID }
func (s SecretSource) Load(ctx context.Context, last string) (string, []User, error) {
	out, err := s.API.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.SecretID)})
	if err != nil {
		return "", nil, err
	}
	if v := aws.ToString(out.VersionId); v != "" && v == last {
		return v, nil, nil
	}
	if out.SecretString == nil {
		return "", nil, errors.New("the secret has no SecretString (a binary secret?): it must hold the JSON user list")
	}
	users, err := ParseUserList([]byte(*out.SecretString))
	return aws.ToString(out.VersionId), users, err
}

// Reloader keeps Users up to date with its sources.
type Reloader struct {
	Users   *Users
	Sources []Source
	Log     *slog.Logger
	// Revoked is told the logins that a reload removed or disabled, so that
	// their sessions can be closed.
	Revoked func(logins []string)

	mu       sync.Mutex // one reload at a time
	versions []string   // of each source, at the last reload that took
	lists    [][]User   // of each source, at the last reload that took
	metrics  reloadMetrics
}

type reloadMetrics struct {
	ok, unchanged, rejected atomic.Int64
	last                    atomic.Int64 // unix time of the last reload that took
}

// Reload reads every source and puts the combined list in place if any
// changed and the whole list is valid. A list that does not parse or
// validate, or a source that cannot be read, is rejected whole: the users
// stay as they were, and the error says what is wrong.
func (r *Reloader) Reload(ctx context.Context) (Change, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.versions == nil {
		r.versions, r.lists = make([]string, len(r.Sources)), make([][]User, len(r.Sources))
	}
	versions := make([]string, len(r.Sources))
	lists := make([][]User, len(r.Sources))
	var all []User
	var errs []error
	for i, src := range r.Sources {
		v, users, err := src.Load(ctx, r.versions[i])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", src.Name(), err))
			continue
		}
		if v == r.versions[i] && users == nil {
			users = r.lists[i] // unchanged: not parsed again
		}
		versions[i], lists[i] = v, users
		all = append(all, users...)
	}
	if err := errors.Join(errs...); err != nil {
		r.metrics.rejected.Add(1)
		return Change{}, err
	}
	if slices.Equal(versions, r.versions) && r.metrics.ok.Load() > 0 {
		r.metrics.unchanged.Add(1)
		return Change{}, nil
	}
	ch, err := r.Users.Replace(all)
	if err != nil {
		r.metrics.rejected.Add(1)
		return Change{}, err
	}
	r.versions, r.lists = versions, lists
	r.metrics.ok.Add(1)
	r.metrics.last.Store(time.Now().Unix())
	if len(ch.Removed) > 0 && r.Revoked != nil {
		r.Revoked(ch.Removed)
	}
	return ch, nil
}

// Run reloads every interval (0: never) and at each value on trigger, until
// ctx ends; it logs what each reload did.
func (r *Reloader) Run(ctx context.Context, interval time.Duration, trigger <-chan struct{}) {
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		case <-trigger:
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		ch, err := r.Reload(rctx)
		cancel()
		switch {
		case err != nil:
			r.Log.Error("users not reloaded: the previous list stays", "err", err)
		case ch.Added != nil || ch.Changed != nil || ch.Removed != nil:
			r.Log.Info("users reloaded", "users", r.Users.Len(), "added", strings.Join(ch.Added, ","),
				"changed", strings.Join(ch.Changed, ","), "removed", strings.Join(ch.Removed, ","))
		}
	}
}

// WritePrometheus implements promtext.Source.
func (r *Reloader) WritePrometheus(w io.Writer) {
	promtext.Gauge(w, "ftps3_users_loaded", "Users in the current list.", float64(r.Users.Len()))
	promtext.Gauge(w, "ftps3_users_reload_timestamp_seconds", "When the user list last changed (or was first loaded).", float64(r.metrics.last.Load()))
	promtext.Labelled(w, "ftps3_users_reloads_total", "User list reloads by result.", "counter",
		promtext.Sample{Labels: map[string]string{"result": "ok"}, Value: float64(r.metrics.ok.Load())},
		promtext.Sample{Labels: map[string]string{"result": "unchanged"}, Value: float64(r.metrics.unchanged.Load())},
		promtext.Sample{Labels: map[string]string{"result": "rejected"}, Value: float64(r.metrics.rejected.Load())})
}

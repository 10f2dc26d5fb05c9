// Package storagetest is the behaviour every storage.Store must have, as a
// test suite that each implementation runs against a real backend.
package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"testing"

	"github.com/ftps3/ftps3/app/storage"
)

// Run runs the suite; newStore returns an empty store.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	ctx := context.Background()

	t.Run("CommitMakesObjectVisible", func(t *testing.T) {
		s := newStore(t)
		data := randomBytes(t, 100_000)
		u := mustCreate(t, s, "dir/file.bin")
		write(t, u, data)
		if _, err := s.Stat(ctx, "dir/file.bin"); !errors.Is(err, storage.ErrNotExist) {
			t.Fatalf("object visible before Commit: err = %v", err)
		}
		if err := u.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		o, err := s.Stat(ctx, "dir/file.bin")
		if err != nil || o.Size != int64(len(data)) || o.ModTime.IsZero() {
			t.Fatalf("Stat = %+v, %v", o, err)
		}
		if got := read(t, s, "dir/file.bin", 0); !bytes.Equal(got, data) {
			t.Fatal("content differs")
		}
		if got := read(t, s, "dir/file.bin", 99_000); !bytes.Equal(got, data[99_000:]) {
			t.Fatal("content from offset differs")
		}
		if got := read(t, s, "dir/file.bin", int64(len(data))); len(got) != 0 {
			t.Fatalf("read at end gave %d bytes", len(got))
		}
	})

	t.Run("AbortKeepsPreviousObject", func(t *testing.T) {
		s := newStore(t)
		put(t, s, "f", []byte("old"))
		u := mustCreate(t, s, "f")
		write(t, u, []byte("new content that must never be seen"))
		if err := u.Abort(ctx); err != nil {
			t.Fatal(err)
		}
		if err := u.Abort(ctx); err != nil {
			t.Fatalf("second Abort: %v", err)
		}
		if got := read(t, s, "f", 0); string(got) != "old" {
			t.Fatalf("after abort: %q", got)
		}
		if err := u.Commit(ctx); err == nil {
			t.Fatal("Commit after Abort succeeded")
		}
	})

	t.Run("EmptyObject", func(t *testing.T) {
		s := newStore(t)
		put(t, s, "empty", nil)
		o, err := s.Stat(ctx, "empty")
		if err != nil || o.Size != 0 {
			t.Fatalf("Stat = %+v, %v", o, err)
		}
		if got := read(t, s, "empty", 0); len(got) != 0 {
			t.Fatal("empty object has content")
		}
	})

	t.Run("UnicodeKeys", func(t *testing.T) {
		s := newStore(t)
		key := `dir with space/it's  "quoted" 🚀 é.txt`
		put(t, s, key, []byte("x"))
		if got := read(t, s, key, 0); string(got) != "x" {
			t.Fatalf("got %q", got)
		}
		if err := s.Copy(ctx, key, key+" copy"); err != nil {
			t.Fatal(err)
		}
		if got := read(t, s, key+" copy", 0); string(got) != "x" {
			t.Fatalf("copy got %q", got)
		}
	})

	t.Run("ListDelimitedAndRecursive", func(t *testing.T) {
		s := newStore(t)
		for _, k := range []string{"a/1", "a/b/2", "a/b/c/3", "a/c", "a-x", "z"} {
			put(t, s, k, []byte(k))
		}
		put(t, s, "a/d/", nil) // a directory marker
		got := list(t, s, "a/", storage.ListOptions{})
		want := []string{"a/1", "a/b/", "a/c", "a/d/"}
		if !equal(got, want) {
			t.Fatalf("delimited list = %q, want %q", got, want)
		}
		got = list(t, s, "a/b/", storage.ListOptions{Recursive: true})
		if !equal(got, []string{"a/b/2", "a/b/c/", "a/b/c/3"}) && !equal(got, []string{"a/b/2", "a/b/c/3"}) {
			t.Fatalf("recursive list = %q", got)
		}
		got = list(t, s, "", storage.ListOptions{})
		if !equal(got, []string{"a-x", "a/", "z"}) {
			t.Fatalf("root list = %q", got)
		}
		if got := list(t, s, "a/", storage.ListOptions{Limit: 2}); len(got) != 2 {
			t.Fatalf("limited list = %q", got)
		}
		if got := list(t, s, "nothing/", storage.ListOptions{}); len(got) != 0 {
			t.Fatalf("missing prefix list = %q", got)
		}
	})

	t.Run("DeleteAndCopy", func(t *testing.T) {
		s := newStore(t)
		put(t, s, "src", []byte("payload"))
		if err := s.Copy(ctx, "src", "sub/dst"); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "src"); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "src"); err != nil {
			t.Fatalf("delete of a missing key: %v", err)
		}
		if _, err := s.Stat(ctx, "src"); !errors.Is(err, storage.ErrNotExist) {
			t.Fatalf("deleted object: %v", err)
		}
		if _, err := s.Open(ctx, "src", 0); !errors.Is(err, storage.ErrNotExist) {
			t.Fatalf("open deleted object: %v", err)
		}
		if got := read(t, s, "sub/dst", 0); string(got) != "payload" {
			t.Fatalf("copy = %q", got)
		}
		if err := s.Copy(ctx, "missing", "x"); !errors.Is(err, storage.ErrNotExist) {
			t.Fatalf("copy of a missing key: %v", err)
		}
	})
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func mustCreate(t *testing.T, s storage.Store, key string) storage.Upload {
	t.Helper()
	u, err := s.Create(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func write(t *testing.T, u storage.Upload, data []byte) {
	t.Helper()
	if _, err := u.Write(data); err != nil {
		t.Fatal(err)
	}
}

// Put stores data under key through Create and Commit.
func Put(t *testing.T, s storage.Store, key string, data []byte) { put(t, s, key, data) }

func put(t *testing.T, s storage.Store, key string, data []byte) {
	t.Helper()
	u := mustCreate(t, s, key)
	write(t, u, data)
	if err := u.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, s storage.Store, key string, off int64) []byte {
	t.Helper()
	r, err := s.Open(context.Background(), key, off)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func list(t *testing.T, s storage.Store, prefix string, opts storage.ListOptions) []string {
	t.Helper()
	var keys []string
	err := s.List(context.Background(), prefix, opts, func(o storage.Object) error {
		keys = append(keys, o.Key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Package filestore implements storage.Store on a local directory: the
// embedded default, and an EFS or NFS mount for those who want one.
//
// Keys map to paths under the root; a key ending in "/" (a directory marker)
// is a directory. A directory behaves as an S3 prefix does: deleting its
// marker while it has entries leaves it standing, unmarked, for as long as it
// has entries, and it disappears with its last one; so do the directories an
// upload had to create. (Which directories are unmarked is kept in memory: after
// a restart every directory on disk counts as marked.) Uploads are written to a hidden staging directory inside the
// root and renamed into place on Commit, so a reader never sees part of a file.
package filestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/ftps3/ftps3/app/storage"
	"github.com/ftps3/ftps3/app/storage/digest"
)

// stagingDir holds uploads in progress; it is never listed.
const stagingDir = ".ftps3-staging"

// Store is a storage.Store on a directory.
type Store struct {
	root string
	sums []digest.Algorithm // recorded with each upload (sums.go)

	mu       sync.Mutex      // orders deletes, directory creation and commits
	unmarked map[string]bool // directories (paths) that exist only for their entries
}

var _ storage.Store = (*Store)(nil)

// New returns a Store rooted at dir, creating it if needed, and clears
// uploads left by a previous run. Each upload records the digests named by
// checksums (sums.go).
func New(dir string, checksums ...digest.Algorithm) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("filestore: %w", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("filestore: %w", err)
	}
	staging := filepath.Join(abs, stagingDir)
	if err := os.RemoveAll(staging); err != nil {
		return nil, fmt.Errorf("filestore: clear staging: %w", err)
	}
	if err := os.Mkdir(staging, 0o700); err != nil {
		return nil, fmt.Errorf("filestore: %w", err)
	}
	return &Store{root: abs, sums: checksums, unmarked: map[string]bool{}}, nil
}

// path maps a key to a file path, refusing keys that would leave the root.
func (s *Store) path(key string) (string, error) {
	trimmed := strings.TrimSuffix(key, "/")
	if key == "" || trimmed == "" {
		return "", fmt.Errorf("%w: empty", storage.ErrInvalidKey)
	}
	for _, seg := range strings.Split(trimmed, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.ContainsRune(seg, 0) {
			return "", fmt.Errorf("%w: %q", storage.ErrInvalidKey, key)
		}
	}
	if trimmed == stagingDir || strings.HasPrefix(trimmed, stagingDir+"/") {
		return "", fmt.Errorf("%w: %q is reserved", storage.ErrInvalidKey, key)
	}
	return filepath.Join(s.root, filepath.FromSlash(trimmed)), nil
}

// Stat implements storage.Store.
func (s *Store) Stat(_ context.Context, key string) (storage.Object, error) {
	p, err := s.path(key)
	if err != nil {
		return storage.Object{}, err
	}
	fi, err := os.Stat(p)
	if err != nil || fi.IsDir() != strings.HasSuffix(key, "/") || fi.IsDir() && s.isUnmarked(p) {
		return storage.Object{}, fmt.Errorf("stat %q: %w", key, storage.ErrNotExist)
	}
	return object(key, fi), nil
}

func object(key string, fi fs.FileInfo) storage.Object {
	if fi.IsDir() {
		return storage.Object{Key: key, ModTime: fi.ModTime()}
	}
	return storage.Object{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}
}

// List implements storage.Store. A directory appears as its marker object
// (key ending in "/") when listed recursively, and as a prefix otherwise.
func (s *Store) List(ctx context.Context, prefix string, opts storage.ListOptions, fn func(storage.Object) error) error {
	dirKey, namePrefix := "", prefix
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		dirKey, namePrefix = prefix[:i+1], prefix[i+1:]
	}
	count := 0
	emit := func(o storage.Object) error {
		if opts.Limit > 0 && count >= opts.Limit {
			return errStop
		}
		count++
		return fn(o)
	}
	err := s.walk(ctx, dirKey, namePrefix, opts.Recursive, emit)
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

var errStop = errors.New("stop")

func (s *Store) walk(ctx context.Context, dirKey, namePrefix string, recursive bool, emit func(storage.Object) error) error {
	dir := s.root
	if dirKey != "" {
		p, err := s.path(dirKey)
		if err != nil {
			return nil
		}
		dir = p
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscallNotDir) {
			return nil
		}
		return fmt.Errorf("list %q: %w", dirKey, err)
	}
	// Key order: a directory "a" sorts as "a/", after "a-b" and "a.txt".
	sort.Slice(entries, func(i, j int) bool { return sortName(entries[i]) < sortName(entries[j]) })
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := e.Name()
		if dirKey == "" && name == stagingDir || !strings.HasPrefix(name, namePrefix) {
			continue
		}
		key := dirKey + name
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if !e.IsDir() {
			if err := emit(object(key, fi)); err != nil {
				return err
			}
			continue
		}
		if !recursive {
			if err := emit(storage.Object{Key: key + "/", Prefix: true}); err != nil {
				return err
			}
			continue
		}
		if !s.isUnmarked(filepath.Join(dir, name)) {
			if err := emit(object(key+"/", fi)); err != nil {
				return err
			}
		}
		if err := s.walk(ctx, key+"/", "", true, emit); err != nil {
			return err
		}
	}
	return nil
}

func sortName(e fs.DirEntry) string {
	if e.IsDir() {
		return e.Name() + "/"
	}
	return e.Name()
}

// Open implements storage.Store.
func (s *Store) Open(_ context.Context, key string, offset int64) (io.ReadCloser, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open %q: %w", key, storage.ErrNotExist)
	}
	if fi, err := f.Stat(); err != nil || fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("open %q: %w", key, storage.ErrNotExist)
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("open %q at %d: %w", key, offset, err)
		}
	}
	return f, nil
}

// Delete implements storage.Store. Deleting a directory marker removes the
// directory if it is empty; otherwise the directory stays, unmarked, until
// its last entry is deleted, as an S3 prefix outlives its marker.
func (s *Store) Delete(_ context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fi, err := os.Stat(p)
	if err != nil {
		return nil
	}
	if fi.IsDir() != strings.HasSuffix(key, "/") {
		return nil
	}
	if err := os.Remove(p); err != nil {
		if !fi.IsDir() {
			return fmt.Errorf("delete %q: %w", key, err)
		}
		s.unmarked[p] = true // not empty: it lives on as a prefix
		return nil
	}
	delete(s.unmarked, p)
	s.pruneLocked(filepath.Dir(p))
	return nil
}

// pruneLocked removes dir and its parents while they are unmarked and empty.
func (s *Store) pruneLocked(dir string) {
	for dir != s.root && s.unmarked[dir] {
		if os.Remove(dir) != nil {
			return
		}
		delete(s.unmarked, dir)
		dir = filepath.Dir(dir)
	}
}

func (s *Store) isUnmarked(p string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unmarked[p]
}

// mkdirParentsLocked creates dir and its missing parents, unmarked: they
// exist for the entry about to be put in them.
func (s *Store) mkdirParentsLocked(dir string) error {
	var missing []string
	for d := dir; d != s.root; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		missing = append(missing, d)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, d := range missing {
		s.unmarked[d] = true
	}
	return nil
}

// Copy implements storage.Store.
func (s *Store) Copy(ctx context.Context, src, dst string) error {
	if strings.HasSuffix(src, "/") {
		return s.putDir(dst)
	}
	r, err := s.Open(ctx, src, 0)
	if err != nil {
		return err
	}
	defer r.Close()
	u, err := s.Create(ctx, dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(u, r); err != nil {
		_ = u.Abort(ctx)
		return fmt.Errorf("copy %q to %q: %w", src, dst, err)
	}
	return u.Commit(ctx)
}

func (s *Store) putDir(key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err = s.mkdirParentsLocked(filepath.Dir(p))
	if err == nil {
		err = os.Mkdir(p, 0o755)
		if errors.Is(err, fs.ErrExist) {
			if fi, serr := os.Stat(p); serr == nil && fi.IsDir() {
				err = nil
			}
		}
	}
	if err != nil {
		return fmt.Errorf("create %q: %w", key, err)
	}
	delete(s.unmarked, p)
	return nil
}

// Create implements storage.Store.
func (s *Store) Create(_ context.Context, key string) (storage.Upload, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(key, "/") {
		return &dirUpload{s: s, key: key}, nil
	}
	f, err := os.CreateTemp(filepath.Join(s.root, stagingDir), "upload-*")
	if err != nil {
		return nil, fmt.Errorf("create %q: %w", key, err)
	}
	return &fileUpload{s: s, f: f, dst: p, key: key, sums: digest.New(s.sums)}, nil
}

type fileUpload struct {
	s        *Store
	f        *os.File
	dst, key string
	written  int64
	sums     *digest.Hasher
	done     bool
}

func (u *fileUpload) Write(p []byte) (int, error) {
	if u.done {
		return 0, storage.ErrAborted
	}
	n, err := u.f.Write(p)
	u.sums.Write(p[:n])
	u.written += int64(n)
	return n, err
}

// Sums implements storage.SummedUpload.
func (u *fileUpload) Sums() digest.Sums { return u.sums.Sums() }

func (u *fileUpload) Written() int64 { return u.written }

func (u *fileUpload) Commit(ctx context.Context) error {
	if u.done {
		return storage.ErrAborted
	}
	err := u.f.Chmod(0o644)
	if err == nil {
		recordSums(u.f, u.sums.Sums())
		err = u.f.Sync()
	}
	if cerr := u.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		u.s.mu.Lock()
		err = u.s.mkdirParentsLocked(filepath.Dir(u.dst))
		if err == nil {
			err = os.Rename(u.f.Name(), u.dst)
		}
		u.s.mu.Unlock()
	}
	if err != nil {
		_ = u.Abort(ctx)
		return fmt.Errorf("commit %q: %w", u.key, err)
	}
	u.done = true
	return nil
}

func (u *fileUpload) Abort(context.Context) error {
	if u.done {
		return nil
	}
	u.done = true
	u.f.Close()
	return os.Remove(u.f.Name())
}

// dirUpload creates a directory marker: only empty content is accepted.
type dirUpload struct {
	s   *Store
	key string
}

func (u *dirUpload) Write(p []byte) (int, error) {
	if len(p) > 0 {
		return 0, fmt.Errorf("%w: %q names a directory", storage.ErrInvalidKey, u.key)
	}
	return 0, nil
}
func (u *dirUpload) Written() int64               { return 0 }
func (u *dirUpload) Commit(context.Context) error { return u.s.putDir(u.key) }
func (u *dirUpload) Abort(context.Context) error  { return nil }

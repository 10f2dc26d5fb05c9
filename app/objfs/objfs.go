// Package objfs is the file-system view that every front door (FTPS, SFTP)
// shares over a storage.Store: client paths confined to a user's home prefix,
// directories made of marker objects and of key prefixes, and the rules of
// stat, listing, mkdir, remove, rmdir, rename and of the checks made before a
// transfer opens. It knows no protocol: a rule changed here changes for every
// front door.
//
// A directory is either a marker object (the path plus the marker suffix, "/"
// by default as the S3 console makes them, or aioftps3's "/.s3keep"), or a
// prefix that exists because keys live under it.
package objfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sync"
	"time"

	"github.com/ftps3/ftps3/app/storage"
)

// Errors a client may be shown; each is wrapped in an *fs.PathError that
// names the operation and the client's path.
var (
	ErrReadOnly     = errors.New("permission denied: this account is read-only")
	ErrRoot         = errors.New("the root directory cannot be removed or renamed")
	ErrIsDir        = errors.New("is a directory")
	ErrNotDir       = errors.New("is not a directory")
	ErrNoParent     = errors.New("parent directory does not exist")
	ErrNotEmpty     = errors.New("directory is not empty")
	ErrExists       = errors.New("already exists")
	ErrNotSupported = errors.New("not supported on object storage")
	ErrIntoItself   = errors.New("cannot move a directory into itself")
	ErrBadOffset    = errors.New("the offset is past the end of the file")
)

// own lists the errors the view makes itself; their texts name nothing but
// the client's paths.
var own = []error{ErrReadOnly, ErrRoot, ErrIsDir, ErrNotDir, ErrNoParent, ErrNotEmpty, ErrExists,
	ErrNotSupported, ErrIntoItself, ErrBadOffset, ErrInvalidName, ErrNoChecksum, ErrResuming}

// StoreError is a failure of the store under the view. Its text is the
// store's, with keys and request details: for logs, not for clients (front
// doors tell clients something plain; storage.ErrUnavailable among its
// causes means a retry may work).
type StoreError struct{ Err error }

func (e *StoreError) Error() string { return e.Err.Error() }
func (e *StoreError) Unwrap() error { return e.Err }

// FS is the file system over one store; View gives each user theirs.
type FS struct {
	store  storage.Store
	suffix string

	sumOpts   SumOptions    // sums.go
	computing chan struct{} // checksums being computed by reading files
}

// New returns the file system over store with directory markers named
// path + dirSuffix ("" means "/").
func New(store storage.Store, dirSuffix string) *FS {
	if dirSuffix == "" {
		dirSuffix = "/"
	}
	f := &FS{store: store, suffix: dirSuffix}
	f.SetSumOptions(SumOptions{})
	return f
}

// Store is the store under the file system.
func (f *FS) Store() storage.Store { return f.store }

// View is one user's file system: paths are rooted at home (a key prefix, ""
// or ending in "/"), and a read-only view refuses every change.
type View struct {
	fs       *FS
	home     string
	readOnly bool
	log      *slog.Logger
	known    knownDirs // directories it just saw (known.go)
}

// View returns the file system as the user with this home and access sees
// it; log receives a record of each change.
func (f *FS) View(home string, readOnly bool, log *slog.Logger) *View {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &View{fs: f, home: home, readOnly: readOnly, log: log}
}

// ReadOnly reports whether the view refuses changes.
func (v *View) ReadOnly() bool { return v.readOnly }

func (v *View) store() storage.Store   { return v.fs.store }
func (v *View) key(p string) string    { return objectKey(v.home, p) }
func (v *View) prefix(p string) string { return dirPrefix(v.home, p) }
func (v *View) marker(p string) string { return markerKey(v.home, p, v.fs.suffix) }

// pathErr names the operation and the client's path. Errors of the store
// become StoreError, and a missing key plain fs.ErrNotExist, so that no key
// reaches a client through the error's text.
func pathErr(op, p string, err error) error {
	var se *StoreError
	switch {
	case errors.As(err, &se):
	case errors.Is(err, fs.ErrNotExist):
		err = fs.ErrNotExist
	default:
		isOwn := false
		for _, e := range own {
			isOwn = isOwn || errors.Is(err, e)
		}
		if !isOwn {
			err = &StoreError{Err: err}
		}
	}
	return &fs.PathError{Op: op, Path: Clean(p), Err: err}
}

// Stat finds what is at p: a file (an object with that key), or a directory
// (its marker object, or any key under its prefix).
func (v *View) Stat(ctx context.Context, p string) (FileInfo, error) {
	if err := v.checkPath(p); err != nil {
		return FileInfo{}, pathErr("stat", p, err)
	}
	fi, err := v.stat(ctx, p)
	if err != nil {
		return FileInfo{}, pathErr("stat", p, err)
	}
	if fi.dir {
		v.learnDir(Clean(p))
	}
	return fi, nil
}

func (v *View) stat(ctx context.Context, p string) (FileInfo, error) {
	p = Clean(p)
	if p == "/" {
		return FileInfo{name: "/", dir: true, modTime: time.Now()}, nil
	}
	name := path.Base(p)
	o, err := v.store().Stat(ctx, v.key(p))
	if err == nil {
		return FileInfo{name: name, size: o.Size, modTime: o.ModTime}, nil
	}
	if !errors.Is(err, storage.ErrNotExist) {
		return FileInfo{}, err
	}
	// Not a file: a directory has a marker, or keys under its prefix. Ask
	// both at once (one round trip instead of two).
	var (
		wg        sync.WaitGroup
		marker    storage.Object
		markerErr error
		found     bool
		listErr   error
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		marker, markerErr = v.store().Stat(ctx, v.marker(p))
	}()
	go func() {
		defer wg.Done()
		listErr = v.store().List(ctx, v.prefix(p), storage.ListOptions{Limit: 1}, func(storage.Object) error {
			found = true
			return nil
		})
	}()
	wg.Wait()
	switch {
	case markerErr == nil:
		return FileInfo{name: name, dir: true, modTime: marker.ModTime}, nil
	case !errors.Is(markerErr, storage.ErrNotExist):
		return FileInfo{}, markerErr
	case listErr != nil:
		return FileInfo{}, listErr
	case found:
		return FileInfo{name: name, dir: true, modTime: time.Now()}, nil
	}
	return FileInfo{}, fs.ErrNotExist
}

// needDir fails unless p is an existing directory (or one the view just
// saw, known.go).
func (v *View) needDir(ctx context.Context, p string) error {
	k, err := v.kindOf(ctx, p)
	switch {
	case err != nil:
		return err
	case k == kindNone:
		return ErrNoParent
	case k == kindFile:
		return fmt.Errorf("%s %w", Clean(p), ErrNotDir)
	}
	return nil
}

package ftp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"

	"github.com/ftps3/ftps3/app/auth"
	"github.com/ftps3/ftps3/app/storage"
)

// Errors the client sees (ftpserverlib answers them with 550 and the text).
var (
	errReadOnly     = errors.New("permission denied: this account is read-only")
	errRoot         = errors.New("the root directory cannot be removed or renamed")
	errIsDir        = errors.New("is a directory")
	errNotDir       = errors.New("is not a directory")
	errNoParent     = errors.New("parent directory does not exist")
	errNotEmpty     = errors.New("directory is not empty")
	errExists       = errors.New("already exists")
	errNotSupported = errors.New("not supported on object storage")
	errDraining     = errors.New("server is shutting down: try again in a moment")
	errIntoItself   = errors.New("cannot move a directory into itself")
)

// renameParallelism bounds the copies of a directory rename.
const renameParallelism = 8

// session is one logged-in user's view of the store: the ftpserverlib
// ClientDriver (an afero.Fs, plus the listing, transfer and RMD extensions).
type session struct {
	s    *Server
	cc   ftpserver.ClientContext
	user *auth.User
	ctrl *controlConn
	log  *slog.Logger
}

var (
	_ ftpserver.ClientDriver                      = (*session)(nil)
	_ ftpserver.ClientDriverExtensionFileList     = (*session)(nil)
	_ ftpserver.ClientDriverExtentionFileTransfer = (*session)(nil)
	_ ftpserver.ClientDriverExtensionRemoveDir    = (*session)(nil)
)

func newSession(s *Server, cc ftpserver.ClientContext, user *auth.User, ctrl *controlConn) *session {
	return &session{s: s, cc: cc, user: user, ctrl: ctrl,
		log: s.log.With("session", cc.ID(), "user", user.Login, "client", cc.RemoteAddr().String())}
}

func (ss *session) store() storage.Store { return ss.s.opts.Store }

func (ss *session) key(p string) string    { return objectKey(ss.user.Home, p) }
func (ss *session) prefix(p string) string { return dirPrefix(ss.user.Home, p) }
func (ss *session) marker(p string) string { return markerKey(ss.user.Home, p, ss.s.opts.DirSuffix) }

func opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Minute)
}

func pathErr(op, p string, err error) error {
	return &fs.PathError{Op: op, Path: cleanPath(p), Err: err}
}

// stat finds what is at p: a file (an object with that key), or a directory
// (its marker object, or any key under its prefix).
func (ss *session) stat(ctx context.Context, p string) (fileInfo, error) {
	p = cleanPath(p)
	if p == "/" {
		return fileInfo{name: "/", dir: true, modTime: time.Now()}, nil
	}
	name := path.Base(p)
	o, err := ss.store().Stat(ctx, ss.key(p))
	if err == nil {
		return fileInfo{name: name, size: o.Size, modTime: o.ModTime}, nil
	}
	if !errors.Is(err, storage.ErrNotExist) {
		return fileInfo{}, err
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
		marker, markerErr = ss.store().Stat(ctx, ss.marker(p))
	}()
	go func() {
		defer wg.Done()
		listErr = ss.store().List(ctx, ss.prefix(p), storage.ListOptions{Limit: 1}, func(storage.Object) error {
			found = true
			return nil
		})
	}()
	wg.Wait()
	switch {
	case markerErr == nil:
		return fileInfo{name: name, dir: true, modTime: marker.ModTime}, nil
	case !errors.Is(markerErr, storage.ErrNotExist):
		return fileInfo{}, markerErr
	case listErr != nil:
		return fileInfo{}, listErr
	case found:
		return fileInfo{name: name, dir: true, modTime: time.Now()}, nil
	}
	return fileInfo{}, fs.ErrNotExist
}

// Stat implements afero.Fs (CWD, SIZE, MDTM, MLST, RNFR).
func (ss *session) Stat(name string) (os.FileInfo, error) {
	ctx, cancel := opCtx()
	defer cancel()
	fi, err := ss.stat(ctx, name)
	if err != nil {
		return nil, pathErr("stat", name, err)
	}
	return fi, nil
}

// ReadDir lists a directory (LIST, NLST, MLSD): ListObjectsV2 page by page,
// prefixes as directories, marker objects hidden or shown as directories.
// It lists first and looks closer only when nothing is found: an empty
// directory, a file, or nothing at all.
func (ss *session) ReadDir(name string) ([]os.FileInfo, error) {
	ctx, cancel := opCtx()
	defer cancel()
	prefix := ss.prefix(name)
	suffix := ss.s.opts.DirSuffix
	own := strings.TrimSuffix(prefix, "/") + suffix
	var out []os.FileInfo
	dirs := map[string]int{}
	addDir := func(n string, mod time.Time) {
		if i, ok := dirs[n]; ok {
			if !mod.IsZero() {
				out[i] = fileInfo{name: n, dir: true, modTime: mod}
			}
			return
		}
		if mod.IsZero() {
			mod = time.Now()
		}
		dirs[n] = len(out)
		out = append(out, fileInfo{name: n, dir: true, modTime: mod})
	}
	sawOwnMarker := false
	err := ss.store().List(ctx, prefix, storage.ListOptions{}, func(o storage.Object) error {
		rel := strings.TrimPrefix(o.Key, prefix)
		switch {
		case o.Prefix:
			addDir(strings.TrimSuffix(rel, "/"), time.Time{})
		case o.Key == own || rel == "":
			sawOwnMarker = true
		case strings.HasSuffix(rel, suffix) && !strings.Contains(strings.TrimSuffix(rel, suffix), "/"):
			addDir(strings.TrimSuffix(rel, suffix), o.ModTime) // a child's marker, when the suffix has no "/"
		default:
			out = append(out, fileInfo{name: rel, size: o.Size, modTime: o.ModTime})
		}
		return nil
	})
	if err != nil {
		return nil, pathErr("list", name, err)
	}
	if len(out) == 0 && !sawOwnMarker && cleanPath(name) != "/" {
		fi, err := ss.stat(ctx, name)
		if err != nil {
			return nil, pathErr("list", name, err)
		}
		if !fi.dir {
			return []os.FileInfo{fi}, nil
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

// Mkdir implements afero.Fs (MKD): the parent must exist, the name must not.
func (ss *session) Mkdir(name string, _ os.FileMode) error {
	if ss.user.ReadOnly {
		return pathErr("mkdir", name, errReadOnly)
	}
	ctx, cancel := opCtx()
	defer cancel()
	p := cleanPath(name)
	if p == "/" {
		return pathErr("mkdir", name, errExists)
	}
	if _, err := ss.stat(ctx, p); err == nil {
		return pathErr("mkdir", name, errExists)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return pathErr("mkdir", name, err)
	}
	if err := ss.needDir(ctx, path.Dir(p)); err != nil {
		return pathErr("mkdir", name, err)
	}
	if err := ss.putMarker(ctx, p); err != nil {
		return pathErr("mkdir", name, err)
	}
	ss.log.Info("directory created", "path", p)
	return nil
}

func (ss *session) putMarker(ctx context.Context, p string) error {
	u, err := ss.store().Create(ctx, ss.marker(p))
	if err != nil {
		return err
	}
	return u.Commit(ctx)
}

// needDir fails unless p is an existing directory.
func (ss *session) needDir(ctx context.Context, p string) error {
	fi, err := ss.stat(ctx, p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errNoParent
	case err != nil:
		return err
	case !fi.dir:
		return fmt.Errorf("%s %w", cleanPath(p), errNotDir)
	}
	return nil
}

// MkdirAll implements afero.Fs.
func (ss *session) MkdirAll(name string, perm os.FileMode) error {
	p := cleanPath(name)
	if p == "/" {
		return nil
	}
	if err := ss.MkdirAll(path.Dir(p), perm); err != nil {
		return err
	}
	if err := ss.Mkdir(p, perm); err != nil && !errors.Is(err, errExists) {
		return err
	}
	return nil
}

// Remove implements afero.Fs (DELE): files only.
func (ss *session) Remove(name string) error {
	if ss.user.ReadOnly {
		return pathErr("delete", name, errReadOnly)
	}
	ctx, cancel := opCtx()
	defer cancel()
	fi, err := ss.stat(ctx, name)
	if err != nil {
		return pathErr("delete", name, err)
	}
	if fi.dir {
		return pathErr("delete", name, fmt.Errorf("%w: use RMD", errIsDir))
	}
	if err := ss.store().Delete(ctx, ss.key(name)); err != nil {
		return pathErr("delete", name, err)
	}
	ss.log.Info("file deleted", "path", cleanPath(name))
	return nil
}

// RemoveDir implements the RMD extension: empty directories only.
func (ss *session) RemoveDir(name string) error {
	if ss.user.ReadOnly {
		return pathErr("rmdir", name, errReadOnly)
	}
	p := cleanPath(name)
	if p == "/" {
		return pathErr("rmdir", name, errRoot)
	}
	ctx, cancel := opCtx()
	defer cancel()
	fi, err := ss.stat(ctx, p)
	if err != nil {
		return pathErr("rmdir", name, err)
	}
	if !fi.dir {
		return pathErr("rmdir", name, errNotDir)
	}
	marker := ss.marker(p)
	empty := true
	err = ss.store().List(ctx, ss.prefix(p), storage.ListOptions{Recursive: true, Limit: 2}, func(o storage.Object) error {
		if o.Key != marker {
			empty = false
		}
		return nil
	})
	if err != nil {
		return pathErr("rmdir", name, err)
	}
	if !empty {
		return pathErr("rmdir", name, errNotEmpty)
	}
	if err := ss.store().Delete(ctx, marker); err != nil {
		return pathErr("rmdir", name, err)
	}
	ss.log.Info("directory removed", "path", p)
	return nil
}

// RemoveAll implements afero.Fs; recursive deletion is not offered.
func (ss *session) RemoveAll(name string) error { return pathErr("rmdir", name, errNotSupported) }

// Rename implements afero.Fs (RNFR/RNTO). A file is copied on the server
// side and then deleted; a directory moves every key under it, with bounded
// parallelism. The target's parent must exist; an existing file may be
// replaced, a directory never.
func (ss *session) Rename(from, to string) error {
	if ss.user.ReadOnly {
		return pathErr("rename", from, errReadOnly)
	}
	from, to = cleanPath(from), cleanPath(to)
	if from == "/" || to == "/" {
		return pathErr("rename", from, errRoot)
	}
	if from == to {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	src, err := ss.stat(ctx, from)
	if err != nil {
		return pathErr("rename", from, err)
	}
	if err := ss.needDir(ctx, path.Dir(to)); err != nil {
		return pathErr("rename", to, err)
	}
	dst, err := ss.stat(ctx, to)
	switch {
	case err == nil && dst.dir:
		return pathErr("rename", to, fmt.Errorf("%w: a directory", errExists))
	case err == nil && src.dir:
		return pathErr("rename", to, fmt.Errorf("%w: a file", errExists))
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return pathErr("rename", to, err)
	}
	if !src.dir {
		if err := ss.store().Copy(ctx, ss.key(from), ss.key(to)); err != nil {
			return pathErr("rename", from, err)
		}
		if err := ss.store().Delete(ctx, ss.key(from)); err != nil {
			return pathErr("rename", from, err)
		}
		ss.log.Info("file renamed", "from", from, "to", to)
		return nil
	}
	if strings.HasPrefix(to+"/", from+"/") {
		return pathErr("rename", to, errIntoItself)
	}
	n, err := ss.renameDir(ctx, from, to)
	if err != nil {
		return pathErr("rename", from, err)
	}
	ss.log.Info("directory renamed", "from", from, "to", to, "objects", n)
	return nil
}

func (ss *session) renameDir(ctx context.Context, from, to string) (int, error) {
	srcPrefix, dstPrefix := ss.prefix(from), ss.prefix(to)
	var keys []string
	err := ss.store().List(ctx, srcPrefix, storage.ListOptions{Recursive: true}, func(o storage.Object) error {
		keys = append(keys, o.Key)
		return nil
	})
	if err != nil {
		return 0, err
	}
	oldMarker, newMarker := ss.marker(from), ss.marker(to)
	if !slices.Contains(keys, oldMarker) {
		if _, err := ss.store().Stat(ctx, oldMarker); err == nil {
			keys = append(keys, oldMarker)
		}
	}
	target := func(k string) string {
		if k == oldMarker {
			return newMarker
		}
		return dstPrefix + strings.TrimPrefix(k, srcPrefix)
	}
	// Copy everything first; delete only once every copy succeeded, so a
	// failure leaves the source whole.
	if err := parallel(ctx, keys, func(ctx context.Context, k string) error {
		return ss.store().Copy(ctx, k, target(k))
	}); err != nil {
		return 0, err
	}
	if _, err := ss.store().Stat(ctx, newMarker); errors.Is(err, storage.ErrNotExist) {
		if err := ss.putMarker(ctx, to); err != nil {
			return 0, err
		}
	}
	// Objects first, in parallel; then the "/" markers one by one, deepest
	// first: a directory-backed store removes a directory only once empty.
	var objects, dirs []string
	for _, k := range keys {
		if strings.HasSuffix(k, "/") {
			dirs = append(dirs, k)
		} else {
			objects = append(objects, k)
		}
	}
	if err := parallel(ctx, objects, func(ctx context.Context, k string) error {
		return ss.store().Delete(ctx, k)
	}); err != nil {
		return 0, err
	}
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, k := range dirs {
		if err := ss.store().Delete(ctx, k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// parallel runs fn over keys with at most renameParallelism at once and
// returns the first error.
func parallel(ctx context.Context, keys []string, fn func(context.Context, string) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, renameParallelism)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for _, k := range keys {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(k string) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(ctx, k); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}(k)
	}
	wg.Wait()
	return first
}

// The rest of afero.Fs is not used by ftpserverlib with the extensions above,
// or has no meaning on object storage.

func (ss *session) Name() string { return "ftps3" }
func (ss *session) Create(name string) (afero.File, error) {
	return nil, pathErr("create", name, errNotSupported)
}
func (ss *session) Open(name string) (afero.File, error) {
	return nil, pathErr("open", name, errNotSupported)
}
func (ss *session) OpenFile(name string, _ int, _ os.FileMode) (afero.File, error) {
	return nil, pathErr("open", name, errNotSupported)
}
func (ss *session) Chmod(name string, _ os.FileMode) error {
	return pathErr("chmod", name, errNotSupported)
}
func (ss *session) Chown(name string, _, _ int) error { return pathErr("chown", name, errNotSupported) }
func (ss *session) Chtimes(name string, _, _ time.Time) error {
	return pathErr("chtimes", name, errNotSupported)
}

package objfs

import (
	"context"
	"errors"
	"io"
	"path"
	"sync"
	"time"

	"github.com/ftps3/ftps3/app/storage"
	"github.com/ftps3/ftps3/app/storage/digest"
)

// What a view just learned, and asking the store in one call.
//
// Before an upload the view checks that the parent is a directory and that
// the name is not one. Asked as stat asks (HEAD of the key, then HEAD of the
// marker and a listing of the prefix), that is up to six requests before the
// data flows, for every file. Two things make it one:
//
//   - probe answers "file, directory or nothing?" with one listing of the
//     key as a prefix: the key itself sorts first, then its marker and the
//     keys under it (grouped into the prefix "key/" by the delimiter).
//   - Each view remembers, for dirMemory, the directories it has just seen
//     exist (a CWD, a listing, an MKD, a check, an upload stored there), so
//     a session that uploads many files into one directory checks it once;
//     KnownDir answers a stat of it from memory (SFTP clients stat the
//     target directory before each file they put).
//     The view forgets everything at once when it removes or renames
//     anything (a removed file can take an implicit directory with it).
//     Another session's RMD within dirMemory is not seen: an upload then
//     recreates the directory as a prefix, as it would have had the RMD come
//     a moment after the check.

// dirMemory is how long a view trusts a directory it saw exist.
const dirMemory = 5 * time.Second

// probeLimit bounds the listing entries probe reads; past it (many names
// that start with this one, such as "a.1", "a.2"... before "a/"), probe
// gives up and stat asks as it always did.
const probeLimit = 100

type knownDirs struct {
	mu   sync.Mutex
	seen map[string]time.Time // clean path → when it was seen to be a directory
}

// learnDir records that p (a clean path) is a directory now.
func (v *View) learnDir(p string) {
	v.known.mu.Lock()
	defer v.known.mu.Unlock()
	if v.known.seen == nil {
		v.known.seen = map[string]time.Time{}
	}
	if len(v.known.seen) >= 1000 {
		clear(v.known.seen)
	}
	v.known.seen[p] = time.Now()
}

// knownDir reports whether p was seen to be a directory within dirMemory.
func (v *View) knownDir(p string) bool {
	_, ok := v.knownDirSince(p)
	return ok
}

// knownDirSince is when p was seen to be a directory, if within dirMemory.
func (v *View) knownDirSince(p string) (time.Time, bool) {
	v.known.mu.Lock()
	defer v.known.mu.Unlock()
	t, ok := v.known.seen[p]
	if ok && time.Since(t) > dirMemory {
		delete(v.known.seen, p)
		return time.Time{}, false
	}
	return t, ok
}

// KnownDir is what the view knows of p without asking the store: a
// directory it saw within dirMemory.
func (v *View) KnownDir(p string) (FileInfo, bool) {
	p = Clean(p)
	if v.checkPath(p) != nil || p == "/" {
		return FileInfo{}, false
	}
	seen, ok := v.knownDirSince(p)
	if !ok {
		return FileInfo{}, false
	}
	return FileInfo{name: path.Base(p), dir: true, modTime: seen}, true
}

// forget drops everything the view learned (after a remove or rename).
func (v *View) forget() {
	v.known.mu.Lock()
	clear(v.known.seen)
	v.known.mu.Unlock()
}

type kind int

const (
	kindNone kind = iota
	kindFile
	kindDir
)

var errProbeDone = errors.New("probe done")

// probe tells what p (clean, not the root) is, with the precedence of stat
// (a file before a directory of the same name), in one listing. ok is false
// when the listing was too crowded to tell.
func (v *View) probe(ctx context.Context, p string) (k kind, ok bool, err error) {
	key, marker := v.key(p), v.marker(p)
	dirPrefix := key + "/"
	n := 0
	err = v.store().List(ctx, key, storage.ListOptions{Limit: probeLimit}, func(o storage.Object) error {
		n++
		switch {
		case o.Key == key && !o.Prefix:
			k = kindFile // the key sorts first: nothing else can override it
			return errProbeDone
		case o.Key == dirPrefix && o.Prefix, o.Key == marker && !o.Prefix:
			k = kindDir
			return errProbeDone
		case o.Key > dirPrefix && o.Key > marker:
			return errProbeDone // past every key that could decide
		}
		return nil
	})
	if errors.Is(err, errProbeDone) {
		return k, true, nil
	}
	if err != nil {
		return kindNone, false, err
	}
	return k, n < probeLimit, nil
}

// kindOf tells what p is: remembered, probed, or (for a crowded name) by
// stat.
func (v *View) kindOf(ctx context.Context, p string) (kind, error) {
	p = Clean(p)
	if p == "/" || v.knownDir(p) {
		return kindDir, nil
	}
	k, ok, err := v.probe(ctx, p)
	if err != nil {
		return kindNone, err
	}
	if !ok {
		fi, err := v.stat(ctx, p)
		switch {
		case errors.Is(err, storage.ErrNotExist):
			return kindNone, nil
		case err != nil:
			return kindNone, err
		case fi.dir:
			k = kindDir
		default:
			k = kindFile
		}
	}
	if k == kindDir {
		v.learnDir(p)
	}
	return k, nil
}

// committed is an upload that tells its view, once stored, that its
// directory exists (its key is under that prefix now).
type committed struct {
	storage.Upload
	v      *View
	dir    string
	noKeep bool // a cut is an abort (resume.go)
}

func (u *committed) Commit(ctx context.Context) error {
	err := u.Upload.Commit(ctx)
	if err == nil {
		u.v.learnDir(u.dir)
	}
	return err
}

// ReadFrom keeps the store's direct read into its part buffers, if it has one.
func (u *committed) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := u.Upload.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{u.Upload}, r)
}

// Sums passes on the digests the store's upload computed, if it computes
// any (storage.SummedUpload), so that a front door can log them.
func (u *committed) Sums() digest.Sums {
	if su, ok := u.Upload.(storage.SummedUpload); ok {
		return su.Sums()
	}
	return nil
}

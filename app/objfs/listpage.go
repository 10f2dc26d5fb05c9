package objfs

import (
	"context"
	"strings"
	"time"

	"github.com/ftps3/ftps3/app/storage"
)

// ListDir streams directory p to fn, one entry at a time, in the store's key
// order (not sorted by name): prefixes as directories, the directory's own
// marker hidden, a child's marker shown as a directory. Unlike ReadDir it
// holds no listing in memory, so a front door can page through a directory
// of any size (SFTP's READDIR); the store reads it page by page as fn
// consumes it. Returning an error from fn stops the listing with that error.
//
// It does not check that p is a directory: an empty or missing directory
// lists nothing. Callers Stat first.
//
// When the marker suffix starts with "/" (the default, and aioftps3's
// "/.s3keep") a child's marker is inside the child's prefix, so each child
// appears once with no bookkeeping. Otherwise a child can appear both as a
// prefix and as its marker; the names of the directories seen are then
// remembered (directories only, never files) to show each once.
func (v *View) ListDir(ctx context.Context, p string, fn func(FileInfo) error) error {
	prefix := v.prefix(p)
	suffix := v.fs.suffix
	own := strings.TrimSuffix(prefix, "/") + suffix
	var seen map[string]bool
	if !strings.HasPrefix(suffix, "/") {
		seen = map[string]bool{}
	}
	dir := func(name string, mod time.Time) error {
		if seen != nil {
			if seen[name] {
				return nil
			}
			seen[name] = true
		}
		if mod.IsZero() {
			mod = time.Now()
		}
		return fn(FileInfo{name: name, dir: true, modTime: mod})
	}
	err := v.store().List(ctx, prefix, storage.ListOptions{}, func(o storage.Object) error {
		rel := strings.TrimPrefix(o.Key, prefix)
		switch {
		case reservedKey(o.Key):
			return nil
		case o.Prefix:
			return dir(strings.TrimSuffix(rel, "/"), time.Time{})
		case o.Key == own || rel == "":
			return nil
		case strings.HasSuffix(rel, suffix) && !strings.Contains(strings.TrimSuffix(rel, suffix), "/"):
			return dir(strings.TrimSuffix(rel, suffix), o.ModTime)
		default:
			return fn(FileInfo{name: rel, size: o.Size, modTime: o.ModTime})
		}
	})
	if err != nil {
		return pathErr("list", p, err)
	}
	return nil
}

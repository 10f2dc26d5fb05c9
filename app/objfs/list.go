package objfs

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/ftps3/ftps3/app/storage"
)

// ReadDir lists directory p, sorted by name: ListObjectsV2 page by page,
// prefixes as directories, marker objects hidden or shown as directories.
// It lists first and looks closer only when nothing is found: an empty
// directory, a file (listed as itself), or nothing at all.
func (v *View) ReadDir(ctx context.Context, p string) ([]FileInfo, error) {
	if err := v.checkPath(p); err != nil {
		return nil, pathErr("list", p, err)
	}
	prefix := v.prefix(p)
	suffix := v.fs.suffix
	own := strings.TrimSuffix(prefix, "/") + suffix
	var out []FileInfo
	dirs := map[string]int{}
	addDir := func(n string, mod time.Time) {
		if i, ok := dirs[n]; ok {
			if !mod.IsZero() {
				out[i] = FileInfo{name: n, dir: true, modTime: mod}
			}
			return
		}
		if mod.IsZero() {
			mod = time.Now()
		}
		dirs[n] = len(out)
		out = append(out, FileInfo{name: n, dir: true, modTime: mod})
	}
	sawOwnMarker := false
	hidden := 0
	err := v.store().List(ctx, prefix, storage.ListOptions{}, func(o storage.Object) error {
		rel := strings.TrimPrefix(o.Key, prefix)
		switch {
		case !listable(rel):
			hidden++
		case reservedKey(o.Key):
		case (o.Key == own || rel == "") && o.Size > 0 && suffix != "/":
			// An object with content at the marker's key is a file someone
			// stored there, not a marker: show it (RemoveDir keeps it too).
			sawOwnMarker = true
			out = append(out, FileInfo{name: rel, size: o.Size, modTime: o.ModTime})
		case o.Prefix:
			addDir(strings.TrimSuffix(rel, "/"), time.Time{})
		case o.Key == own || rel == "":
			sawOwnMarker = true
		case strings.HasSuffix(rel, suffix) && !strings.Contains(strings.TrimSuffix(rel, suffix), "/"):
			addDir(strings.TrimSuffix(rel, suffix), o.ModTime) // a child's marker, when the suffix has no "/"
		default:
			out = append(out, FileInfo{name: rel, size: o.Size, modTime: o.ModTime})
		}
		return nil
	})
	if err != nil {
		return nil, pathErr("list", p, err)
	}
	if hidden > 0 {
		v.log.Warn("listing leaves out names with CR, LF or NUL", "path", Clean(p), "count", hidden)
	}
	if len(out) == 0 && !sawOwnMarker && Clean(p) != "/" {
		fi, err := v.stat(ctx, p)
		if err != nil {
			return nil, pathErr("list", p, err)
		}
		if !fi.dir {
			return []FileInfo{fi}, nil
		}
	}
	if len(out) > 0 || sawOwnMarker {
		v.learnDir(Clean(p))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

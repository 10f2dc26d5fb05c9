package objfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"

	"github.com/ftps3/ftps3/app/storage"
)

// Remove deletes file p; directories are removed with RemoveDir.
func (v *View) Remove(ctx context.Context, p string) error {
	if v.readOnly {
		return pathErr("delete", p, ErrReadOnly)
	}
	if err := v.checkPath(p); err != nil {
		return pathErr("delete", p, err)
	}
	v.forget()
	fi, err := v.stat(ctx, p)
	if err != nil {
		return pathErr("delete", p, err)
	}
	if fi.dir {
		return pathErr("delete", p, fmt.Errorf("%w: remove it as a directory", ErrIsDir))
	}
	if err := v.store().Delete(ctx, v.key(p)); err != nil {
		return pathErr("delete", p, err)
	}
	v.log.Info("file deleted", "path", Clean(p))
	return nil
}

// Open reads file p from offset to its end. The context bounds only the
// checks: the reader lives until it is closed. The FileInfo has the size
// only when offset is not 0 (a download from the start does not ask for it).
func (v *View) Open(ctx context.Context, p string, offset int64) (io.ReadCloser, FileInfo, error) {
	if err := v.checkPath(p); err != nil {
		return nil, FileInfo{}, pathErr("download", p, err)
	}
	if offset == 0 && Clean(p) != "/" {
		// Most downloads start at 0: ask for the object at once, and look
		// closer (a directory? nothing?) only when there is none. (One
		// request instead of two per file.)
		r, err := v.store().Open(context.WithoutCancel(ctx), v.key(p), 0)
		if err == nil {
			return r, FileInfo{name: path.Base(Clean(p))}, nil
		}
		if !errors.Is(err, storage.ErrNotExist) {
			return nil, FileInfo{}, pathErr("download", p, err)
		}
	}
	fi, err := v.stat(ctx, p)
	if err != nil {
		return nil, FileInfo{}, pathErr("download", p, err)
	}
	if fi.dir {
		return nil, FileInfo{}, pathErr("download", p, ErrIsDir)
	}
	if offset < 0 || offset > fi.size {
		return nil, FileInfo{}, pathErr("download", p, fmt.Errorf("%w: %d of %d bytes", ErrBadOffset, offset, fi.size))
	}
	r, err := v.store().Open(context.WithoutCancel(ctx), v.key(p), offset)
	if err != nil {
		if errors.Is(err, storage.ErrNotExist) {
			err = fs.ErrNotExist
		}
		return nil, FileInfo{}, pathErr("download", p, err)
	}
	return r, fi, nil
}

// Create starts a streaming upload of file p, after the checks every front
// door makes: the view may write, p is not a directory, and its parent
// directory exists. Nothing is visible until the upload commits; an aborted
// upload leaves the previous file, if any, untouched. The context bounds only
// the checks.
func (v *View) Create(ctx context.Context, p string) (storage.Upload, error) {
	switch {
	case v.readOnly:
		return nil, pathErr("upload", p, ErrReadOnly)
	case Clean(p) == "/":
		return nil, pathErr("upload", p, ErrIsDir)
	}
	if err := v.checkNew(p); err != nil {
		return nil, pathErr("upload", p, err)
	}
	p = Clean(p)
	if err := v.needDir(ctx, path.Dir(p)); err != nil {
		return nil, pathErr("upload", p, err)
	}
	switch k, err := v.kindOf(ctx, p); {
	case err != nil:
		return nil, pathErr("upload", p, err) // the store is failing: say so before the data is sent
	case k == kindDir:
		return nil, pathErr("upload", p, ErrIsDir)
	}
	u, err := v.store().Create(context.WithoutCancel(ctx), v.key(p))
	if err != nil {
		return nil, pathErr("upload", p, err)
	}
	return &committed{Upload: u, v: v, dir: path.Dir(p)}, nil
}

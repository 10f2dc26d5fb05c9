package objfs

import (
	"context"
	"errors"
	"path"

	"github.com/ftps3/ftps3/app/storage"
)

// Mkdir creates directory p (its marker object): the parent must exist, the
// name must not.
func (v *View) Mkdir(ctx context.Context, p string) error {
	if v.readOnly {
		return pathErr("mkdir", p, ErrReadOnly)
	}
	if err := v.checkNew(p); err != nil {
		return pathErr("mkdir", p, err)
	}
	p = Clean(p)
	if p == "/" {
		return pathErr("mkdir", p, ErrExists)
	}
	if k, err := v.kindOf(ctx, p); err != nil {
		return pathErr("mkdir", p, err)
	} else if k != kindNone {
		return pathErr("mkdir", p, ErrExists)
	}
	if err := v.needDir(ctx, path.Dir(p)); err != nil {
		return pathErr("mkdir", p, err)
	}
	if err := v.putMarker(ctx, p); err != nil {
		return pathErr("mkdir", p, err)
	}
	v.learnDir(p)
	v.log.Info("directory created", "path", p)
	return nil
}

// MkdirAll creates p and any missing parents; existing directories are fine.
func (v *View) MkdirAll(ctx context.Context, p string) error {
	p = Clean(p)
	if p == "/" {
		return nil
	}
	if err := v.MkdirAll(ctx, path.Dir(p)); err != nil {
		return err
	}
	if err := v.Mkdir(ctx, p); err != nil && !errors.Is(err, ErrExists) {
		return err
	}
	return nil
}

func (v *View) putMarker(ctx context.Context, p string) error {
	u, err := v.store().Create(ctx, v.marker(p))
	if err != nil {
		return err
	}
	return u.Commit(ctx)
}

// RemoveDir removes directory p, which must be empty (its marker at most).
func (v *View) RemoveDir(ctx context.Context, p string) error {
	if v.readOnly {
		return pathErr("rmdir", p, ErrReadOnly)
	}
	if err := v.checkPath(p); err != nil {
		return pathErr("rmdir", p, err)
	}
	p = Clean(p)
	if p == "/" {
		return pathErr("rmdir", p, ErrRoot)
	}
	v.forget()
	fi, err := v.stat(ctx, p)
	if err != nil {
		return pathErr("rmdir", p, err)
	}
	if !fi.dir {
		return pathErr("rmdir", p, ErrNotDir)
	}
	marker := v.marker(p)
	empty := true
	err = v.store().List(ctx, v.prefix(p), storage.ListOptions{Recursive: true, Limit: 2}, func(o storage.Object) error {
		if o.Key != marker || o.Size > 0 { // a marker is empty: content there is a file
			empty = false
		}
		return nil
	})
	if err != nil {
		return pathErr("rmdir", p, err)
	}
	if !empty {
		return pathErr("rmdir", p, ErrNotEmpty)
	}
	if err := v.store().Delete(ctx, marker); err != nil {
		return pathErr("rmdir", p, err)
	}
	v.log.Info("directory removed", "path", p)
	return nil
}

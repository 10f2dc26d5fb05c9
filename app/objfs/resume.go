package objfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"time"

	"github.com/ftps3/ftps3/app/storage"
)

// Resuming: a cut upload that the store keeps (storage.Resumer) is the
// newest write of its name, though nobody can read it: Pending tells its
// offset to whoever may write there (FTP SIZE, SFTP stat), Resume continues
// it from exactly that offset, and a new upload without an offset or
// Discard drops it.

// Pending returns the offset at which the pending upload of file p can be
// resumed, and whether there is one. A read-only view never sees one.
func (v *View) Pending(ctx context.Context, p string) (int64, bool, error) {
	r, ok := v.store().(storage.Resumer)
	if !ok || v.readOnly || Clean(p) == "/" {
		return 0, false, nil
	}
	if err := v.checkPath(p); err != nil {
		return 0, false, pathErr("stat", p, err)
	}
	pend, err := r.Pending(ctx, v.key(p))
	switch {
	case errors.Is(err, storage.ErrNotExist):
		return 0, false, nil
	case err != nil:
		return 0, false, pathErr("stat", p, err)
	}
	return pend.Offset, true, nil
}

// Resume continues the pending upload of file p from offset, which must be
// its Pending offset; any other gets an error naming the right one (a
// *storage.OffsetError inside), and the pending upload stays as it was.
func (v *View) Resume(ctx context.Context, p string, offset int64) (storage.Upload, error) {
	if v.readOnly {
		return nil, pathErr("upload", p, ErrReadOnly)
	}
	if err := v.checkNew(p); err != nil {
		return nil, pathErr("upload", p, err)
	}
	// The checks Create makes: the name may have become a directory, or
	// lost its parent, since the cut.
	if Clean(p) == "/" {
		return nil, pathErr("upload", p, ErrIsDir)
	}
	if err := v.needDir(ctx, path.Dir(Clean(p))); err != nil {
		return nil, pathErr("upload", p, err)
	}
	switch k, err := v.kindOf(ctx, Clean(p)); {
	case err != nil:
		return nil, pathErr("upload", p, err)
	case k == kindDir:
		return nil, pathErr("upload", p, ErrIsDir)
	}
	r, ok := v.store().(storage.Resumer)
	if !ok {
		return nil, pathErr("upload", p, fmt.Errorf("%w: resuming an upload at byte %d", ErrNotSupported, offset))
	}
	u, err := r.Resume(context.WithoutCancel(ctx), v.key(p), offset)
	switch {
	case errors.Is(err, storage.ErrNotExist):
		return nil, pathErr("upload", p, fmt.Errorf("%w: no cut upload of this file to resume (start again from byte 0)", ErrBadOffset))
	case err != nil:
		var oe *storage.OffsetError
		if errors.As(err, &oe) {
			return nil, pathErr("upload", p, fmt.Errorf("%w: %s", ErrBadOffset, oe.Error()))
		}
		if errors.Is(err, storage.ErrResuming) {
			return nil, pathErr("upload", p, ErrResuming)
		}
		return nil, pathErr("upload", p, err)
	}
	v.log.Info("upload resumed", "path", Clean(p), "offset", offset)
	return &committed{Upload: u, v: v, dir: path.Dir(Clean(p))}, nil
}

// PendingFile is how a pending upload shows to whoever may resume it: a
// file named as p whose size is the resumable offset.
func PendingFile(p string, offset int64, modTime time.Time) FileInfo {
	return FileInfo{name: path.Base(Clean(p)), size: offset, modTime: modTime}
}

// ErrResuming: another session is resuming the same upload.
var ErrResuming = errors.New("another session is resuming this upload: try again later")

// Discard drops the pending upload of file p, if any (an explicit cancel).
func (v *View) Discard(ctx context.Context, p string) error {
	r, ok := v.store().(storage.Resumer)
	if !ok || v.readOnly {
		return nil
	}
	if err := v.checkPath(p); err != nil {
		return pathErr("discard", p, err)
	}
	if err := r.Discard(ctx, v.key(p)); err != nil {
		return pathErr("discard", p, err)
	}
	return nil
}

// Append starts an upload of file p that continues what p holds: its
// pending upload, if it has one (resumed at its offset), else the stored
// file (its bytes are copied into the new upload first, then the client's
// follow; the file is replaced at commit, nothing visible before), else
// nothing. It returns the upload and the offset the client's bytes start at.
func (v *View) Append(ctx context.Context, p string) (storage.Upload, int64, error) {
	if off, ok, err := v.Pending(ctx, p); err != nil {
		return nil, 0, err
	} else if ok {
		u, err := v.Resume(ctx, p, off)
		return u, off, err
	}
	fi, statErr := v.Stat(ctx, p)
	u, err := v.Create(ctx, p)
	if err != nil {
		return nil, 0, err
	}
	if statErr != nil || fi.size == 0 {
		return u, 0, nil // nothing there (or empty): a plain upload
	}
	// A cut would keep fewer bytes than the stored file holds, and a later
	// append would then drop the file's tail: such an upload is never kept.
	if c, ok := u.(*committed); ok {
		c.noKeep = true
		if nk, ok := c.Upload.(interface{ NoKeep() }); ok {
			nk.NoKeep()
		}
	}
	r, err := v.store().Open(ctx, v.key(p), 0)
	if err != nil {
		_ = u.Abort(ctx)
		return nil, 0, pathErr("append", p, err)
	}
	defer r.Close()
	n, err := io.Copy(u, r)
	if err != nil {
		_ = u.Abort(ctx)
		return nil, 0, pathErr("append", p, err)
	}
	return u, n, nil
}

// Suspend keeps the store's upload for resuming, if it can be.
func (u *committed) Suspend(ctx context.Context) error {
	if s, ok := u.Upload.(storage.SuspendableUpload); ok && !u.noKeep {
		return s.Suspend(ctx)
	}
	return u.Upload.Abort(ctx)
}

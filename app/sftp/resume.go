package sftp

import (
	"context"
	"errors"
	"io/fs"
	"time"

	"github.com/pkg/sftp"

	"github.com/ftps3/ftps3/app/objfs"
)

// Resuming. An upload whose handle is never closed (upload.go) is kept by
// the store as the pending upload of its name (objfs's Pending, Resume): not
// listed, not readable, no object. Only a client that may write there sees
// it, and only by name: STAT of the name reports the offset the upload can
// resume from, even where an older object of the name exists. An OPEN
// without truncation then resumes it, and the client writes from that
// offset (OpenSSH's reput and put -a stat the file, then open it with
// WRITE|CREAT|APPEND and write from its size; an open without APPEND
// resumes as well).
// An OPEN with truncation (a plain put), REMOVE, and the end of the resume
// window drop it.

// openUpload starts the upload an OPEN for writing asks for:
//   - TRUNC or EXCL: a new upload (View.Create, which drops a pending
//     upload of the name); EXCL fails on an existing file;
//   - otherwise, a name with a pending upload: that upload, resumed at its
//     offset (View.Resume), written from there;
//   - APPEND, on a stored file: an upload that starts with the file's bytes
//     (View.Append), written from the file's size; the file is replaced at
//     CLOSE;
//   - neither, on a stored file: refused (errExisting);
//   - no file: a new upload.
func (h *handlers) openUpload(r *sftp.Request, p string, flags sftp.FileOpenFlags) (*uploadFile, error) {
	ctx, cancel := opCtx(r)
	defer cancel()
	if flags.Trunc || flags.Excl {
		if flags.Excl {
			if fi, err := h.view.Stat(ctx, p); err == nil && !fi.IsDir() {
				return nil, &fs.PathError{Op: "upload", Path: p, Err: objfs.ErrExists}
			}
		}
		up, err := h.view.Create(ctx, p)
		if err != nil {
			return nil, err
		}
		return newUploadFile(h, up, p, 0), nil
	}
	if off, ok, err := h.view.Pending(ctx, p); err != nil {
		return nil, err
	} else if ok {
		up, err := h.view.Resume(ctx, p, off) // logged by the view
		if err != nil {
			return nil, err
		}
		h.s.metrics.UploadsResumed.Add(1)
		u := newUploadFile(h, up, p, off)
		u.resumed, u.continues = true, true
		return u, nil
	}
	if fi, err := h.view.Stat(ctx, p); err == nil && !fi.IsDir() {
		if !flags.Append {
			return nil, errExisting
		}
		// The file's bytes are copied into the upload before the OPEN is
		// answered: bounded by the handle's life, not opCtx's.
		up, off, err := h.view.Append(r.Context(), p)
		if err != nil {
			return nil, err
		}
		h.log.Info("upload appends to the stored file", "path", p, "offset", off)
		u := newUploadFile(h, up, p, off)
		u.continues = true
		return u, nil
	}
	up, err := h.view.Create(ctx, p)
	if err != nil {
		return nil, err
	}
	u := newUploadFile(h, up, p, 0)
	u.continues = true
	return u, nil
}

// stat is the view's Stat, except that a file with a pending upload, for a
// user who may write there, is reported at the size the upload can resume
// from: what a client that resumes asks before it opens the file. (FSTAT of
// an open handle comes here too: pkg/sftp turns it into a STAT of the
// handle's path.) A directory the session just saw is answered from memory.
func (h *handlers) stat(ctx context.Context, p string) (fs.FileInfo, error) {
	if fi, ok := h.view.KnownDir(p); ok {
		return fi, nil // a directory: nothing pending there
	}
	if h.view.ReadOnly() {
		return h.view.Stat(ctx, p)
	}
	// Both at once: the pending upload's state is one more request to the
	// store, not one more round trip to wait for.
	type pendingResult struct {
		off int64
		ok  bool
		err error
	}
	pc := make(chan pendingResult, 1)
	go func() {
		off, ok, err := h.view.Pending(ctx, p)
		pc <- pendingResult{off, ok, err}
	}()
	fi, err := h.view.Stat(ctx, p)
	pr := <-pc
	switch {
	case pr.err != nil:
		// The stored file (or its absence) is still an answer to give; a
		// resume that follows is checked against the pending offset.
		h.log.Warn("could not look for a pending upload", "path", p, "err", pr.err)
		return fi, err
	case !pr.ok || (err == nil && fi.IsDir()):
		return fi, err
	}
	mt := time.Now()
	if err == nil {
		mt = fi.ModTime()
	}
	return objfs.PendingFile(p, pr.off, mt), nil
}

// remove deletes file p and drops its pending upload, if any (an explicit
// cancel): a name that has only a pending upload is removed too.
func (h *handlers) remove(ctx context.Context, p string) error {
	_, pending, err := h.view.Pending(ctx, p)
	if err != nil {
		return err
	}
	if pending {
		if err := h.view.Discard(ctx, p); err != nil {
			return err
		}
		h.log.Info("pending upload discarded", "path", p)
	}
	err = h.view.Remove(ctx, p)
	if pending && errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

package sftp

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"time"

	"github.com/pkg/sftp"

	"github.com/ftps3/ftps3/app/objfs"
)

// handlers serve one logged-in session's requests (pkg/sftp's request
// server) through the user's view: every rule about paths, directories,
// renames and removes is the view's.
type handlers struct {
	s    *Server
	view *objfs.View
	log  *slog.Logger
	fast *fastHandles // the session's transfers, for the fast path (fastpath.go)
}

var (
	_ sftp.FileReader           = (*handlers)(nil)
	_ sftp.FileWriter           = (*handlers)(nil)
	_ sftp.PosixRenameFileCmder = (*handlers)(nil)
	_ sftp.RealPathFileLister   = (*handlers)(nil)
	_ sftp.LstatFileLister      = (*handlers)(nil)
	_ sftp.ReadlinkFileLister   = (*handlers)(nil)
)

// opCtx bounds one metadata request.
func opCtx(r *sftp.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 2*time.Minute)
}

// fail logs and counts an error answer.
func (h *handlers) fail(op, p string, err error) error {
	h.s.metrics.ErrorReplies.Add(1)
	h.log.Info("request refused", "op", op, "path", p, "err", err)
	return status(err)
}

// Fileread opens a download: ranged GETs with read-ahead (download.go).
func (h *handlers) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	p := objfs.Clean(r.Filepath)
	ctx, cancel := opCtx(r)
	defer cancel()
	fi, err := h.view.Stat(ctx, p)
	switch {
	case err != nil:
		return nil, h.fail("download", p, err)
	case fi.IsDir():
		return nil, h.fail("download", p, &fs.PathError{Op: "download", Path: p, Err: objfs.ErrIsDir})
	}
	if err := h.transferStarted(); err != nil {
		return nil, h.fail("download", p, err)
	}
	d := &downloadFile{h: h, view: h.view, path: p, size: fi.Size(), keep: h.s.opts.ReadAhead, start: time.Now()}
	h.fast.addDownload(r, d)
	return d, nil
}

// Filewrite opens an upload: a streaming multipart upload through the view,
// written in order (upload.go) and committed at CLOSE. Opened without
// truncation, it may continue the file (resume.go).
func (h *handlers) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	p := objfs.Clean(r.Filepath)
	flags := r.Pflags()
	h.log.Debug("open for writing", "path", p, "trunc", flags.Trunc, "append", flags.Append, "creat", flags.Creat, "excl", flags.Excl)
	if h.view.ReadOnly() {
		return nil, h.fail("upload", p, &fs.PathError{Op: "upload", Path: p, Err: objfs.ErrReadOnly})
	}
	if err := h.transferStarted(); err != nil {
		return nil, h.fail("upload", p, err)
	}
	u, err := h.openUpload(r, p, flags)
	if err != nil {
		h.transferEnded()
		return nil, h.fail("upload", p, err)
	}
	h.fast.addUpload(r, u)
	return u, nil
}

// transferStarted counts a transfer for the drain, or refuses it once the
// server is draining (under the lock Shutdown sets draining with, so no
// transfer starts after Shutdown began waiting).
func (h *handlers) transferStarted() error {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if h.s.draining.Load() {
		return errDraining
	}
	h.s.transfers.Add(1)
	h.s.metrics.TransfersActive.Add(1)
	return nil
}

func (h *handlers) transferEnded() {
	h.s.metrics.TransfersActive.Add(-1)
	h.s.transfers.Done()
}

// Filecmd serves SETSTAT, RENAME, RMDIR, MKDIR, REMOVE; links are refused.
func (h *handlers) Filecmd(r *sftp.Request) error {
	p := objfs.Clean(r.Filepath)
	ctx, cancel := opCtx(r)
	defer cancel()
	var err error
	switch r.Method {
	case "Setstat":
		err = h.setstat(ctx, r, p)
	case "Rename":
		// SFTP v3: a rename never replaces (posix-rename does).
		if _, serr := h.view.Stat(ctx, r.Target); serr == nil {
			err = &fs.PathError{Op: "rename", Path: objfs.Clean(r.Target), Err: objfs.ErrExists}
		} else {
			err = h.view.Rename(ctx, p, r.Target)
		}
	case "Rmdir":
		err = h.view.RemoveDir(ctx, p)
	case "Mkdir":
		err = h.view.Mkdir(ctx, p)
	case "Remove":
		err = h.remove(ctx, p)
	case "Link", "Symlink":
		err = errSymlink
	default:
		err = fmt.Errorf("%s is %w", r.Method, objfs.ErrNotSupported)
	}
	if err != nil {
		return h.fail(r.Method, p, err)
	}
	return nil
}

// PosixRename replaces the target file, as rename(2) does.
func (h *handlers) PosixRename(r *sftp.Request) error {
	ctx, cancel := opCtx(r)
	defer cancel()
	if err := h.view.Rename(ctx, r.Filepath, r.Target); err != nil {
		return h.fail("rename", objfs.Clean(r.Filepath), err)
	}
	return nil
}

// setstat accepts times, modes and owners as a logged no-op (objects keep
// neither; WinSCP and others set times after an upload and count a
// failure as a failed upload), and a size only when it is the file's.
func (h *handlers) setstat(ctx context.Context, r *sftp.Request, p string) error {
	fi, err := h.view.Stat(ctx, p)
	if err != nil {
		return err
	}
	flags := r.AttrFlags()
	if flags.Size {
		if fi.IsDir() || int64(r.Attributes().Size) != fi.Size() {
			return errSetSize
		}
	}
	if h.view.ReadOnly() && (flags.Permissions || flags.Acmodtime || flags.UidGid) {
		return &fs.PathError{Op: "setstat", Path: p, Err: objfs.ErrReadOnly}
	}
	h.log.Debug("setstat ignored: object storage keeps no times or modes", "path", p,
		"times", flags.Acmodtime, "mode", flags.Permissions, "owner", flags.UidGid)
	return nil
}

// Filelist serves STAT (and FSTAT) and OPENDIR (paged: lister.go).
func (h *handlers) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	p := objfs.Clean(r.Filepath)
	ctx, cancel := opCtx(r)
	defer cancel()
	var fi fs.FileInfo
	var err error
	if r.Method == "List" {
		fi, err = h.view.Stat(ctx, p)
	} else {
		fi, err = h.stat(ctx, p)
	}
	if err != nil {
		return nil, h.fail(r.Method, p, err)
	}
	switch r.Method {
	case "List":
		if !fi.IsDir() {
			return nil, h.fail("list", p, &fs.PathError{Op: "list", Path: p, Err: objfs.ErrNotDir})
		}
		return newDirLister(h.view, p), nil
	case "Stat", "Lstat":
		return listerOf{fi}, nil
	}
	return nil, h.fail(r.Method, p, fmt.Errorf("%s is %w", r.Method, objfs.ErrNotSupported))
}

// Lstat is Stat: there are no links.
func (h *handlers) Lstat(r *sftp.Request) (sftp.ListerAt, error) { return h.Filelist(r) }

// Readlink fails: there are no links.
func (h *handlers) Readlink(p string) (string, error) {
	return "", h.fail("readlink", objfs.Clean(p), errSymlink)
}

// RealPath is the canonical path inside the home: the home is "/", and no
// ".." leaves it.
func (h *handlers) RealPath(p string) (string, error) {
	return objfs.Clean(p), nil
}

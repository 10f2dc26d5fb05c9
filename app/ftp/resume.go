package ftp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ftps3/ftps3/app/objfs"
	"github.com/ftps3/ftps3/app/storage"
)

// Resuming a cut upload over FTP.
//
// An upload cut by its client (the data connection ended without a TLS
// close_notify or with an error, the control connection was lost, the data
// idle timeout, a draining server's grace ended) is suspended: what the
// store already holds becomes the pending upload of that name (objfs), which
// nobody can list or download. An upload the client cancelled (ABOR), or one
// the store failed, is discarded as before.
//
// The pending upload is the newest write of its name, as a truncated file
// would be on a disk, for who may write there:
//   - SIZE and MLST of exactly that name tell its offset, even over an
//     older object of the name (MDTM, LIST, RETR and HASH still see the
//     object; a read-only user sees only the object);
//   - "REST n" + STOR resumes it when n is that offset; another n is
//     refused with 554 before any data is read (RFC 3659: an invalid REST
//     parameter for the transfer that follows), naming the offset, and the
//     pending upload stays as it was;
//   - APPE continues it at its offset (curl -C - asks SIZE, then APPE); with
//     none, APPE continues the stored file (objfs.View.Append). APPE right
//     after SIZE of the same name (no transfer between) must continue
//     where SIZE said, else 554 before any data is read: if the pending
//     upload ended in between (its window, another session's STOR), the
//     client's bytes would be spliced onto the older object, or stored
//     without their beginning;
//   - STOR without REST (or REST 0) starts over and drops it, as does DELE.
// A second session resuming the same upload at once gets 450 (try later).

// statPending answers SIZE and MLST (cmd) for a name with a pending
// upload: its resumable offset as the size. Other commands, and a name
// without one, see what is stored (ok false).
func (ss *session) statPending(ctx context.Context, cmd, p string) (os.FileInfo, bool) {
	if ss.view.ReadOnly() || cmd != "SIZE" && cmd != "MLST" {
		return nil, false
	}
	off, ok, err := ss.view.Pending(ctx, p)
	if err != nil {
		// The stored file is still the answer to give (a resume that
		// follows is checked against the pending offset anyway); a name
		// that cannot be stored gets its error from the Stat that follows.
		if !errors.Is(err, objfs.ErrInvalidName) {
			ss.log.Warn("could not look for a pending upload", "path", objfs.Clean(p), "err", err)
		}
		return nil, false
	}
	if !ok {
		return nil, false
	}
	return objfs.PendingFile(p, off, time.Now()), true
}

// sizeTold is what the session's last SIZE answered, until its next
// transfer: an APPE of that name must continue there.
type sizeTold struct {
	mu   sync.Mutex
	path string
	size int64
}

// told remembers SIZE's answer fi for p (cmd is the command asking).
func (st *sizeTold) told(cmd, p string, fi os.FileInfo) {
	if cmd != "SIZE" || fi.IsDir() {
		return
	}
	st.mu.Lock()
	st.path, st.size = objfs.Clean(p), fi.Size()
	st.mu.Unlock()
}

// take returns SIZE's answer for p, if it was the last, and forgets it.
func (st *sizeTold) take(p string) (int64, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	size, ok := st.size, st.path != "" && st.path == objfs.Clean(p)
	st.path = ""
	return size, ok
}

// errNoResume: REST n + STOR where the store keeps no cut uploads (the
// local directory).
var errNoResume = errors.New("this server's store cannot resume uploads: send the whole file")

// errMovedSinceSize: APPE after SIZE, and the name no longer continues
// where SIZE said.
var errMovedSinceSize = errors.New("the file changed since SIZE")

// appendOffset is where APPE of p would continue now: the pending upload's
// offset, else the stored file's size, else 0 (as objfs.View.Append).
func (ss *session) appendOffset(ctx context.Context, p string) (off int64, pending bool, err error) {
	if off, ok, err := ss.view.Pending(ctx, p); err != nil || ok {
		return off, ok, err
	}
	fi, err := ss.view.Stat(ctx, p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return 0, false, nil // nothing there: Append starts a new file
	case err != nil:
		return 0, false, err // the store failing: 450, not "changed"
	}
	return fi.Size(), false, nil
}

// removePending drops the pending upload of p before DELE removes the
// stored file, and tells whether there was one (DELE of a name that has
// only a pending upload succeeds).
func (ss *session) removePending(ctx context.Context, p string) (bool, error) {
	if ss.view.ReadOnly() {
		return false, nil
	}
	off, ok, err := ss.view.Pending(ctx, p)
	if err != nil || !ok {
		return false, err
	}
	if err := ss.view.Discard(ctx, p); err != nil {
		return false, err
	}
	ss.log.Info("pending upload discarded", "path", objfs.Clean(p), "offset", off, "by", "DELE")
	return true, nil
}

// openUpload starts the upload of a STOR or APPE: a new one (STOR, or
// "REST 0" + STOR), the pending upload resumed at offset ("REST n" +
// STOR), or a continuation of what p holds (APPE). It returns the upload
// and the offset the client's bytes start at.
func (ss *session) openUpload(p string, appendTo bool, offset int64) (storage.Upload, int64, error) {
	ctx, cancel := opCtx()
	defer cancel()
	told, afterSize := ss.sizeTold.take(p)
	switch {
	case appendTo:
		if afterSize {
			now, pending, err := ss.appendOffset(ctx, p)
			if err != nil {
				return nil, 0, err
			}
			if now != told {
				return nil, 0, &fs.PathError{Op: "append", Path: p, Err: fmt.Errorf(
					"%w (%d bytes): it continues at byte %d now; ask SIZE again", errMovedSinceSize, told, now)}
			}
			if pending {
				// Exactly where SIZE said, or not at all (another cut of
				// the name in between changes the offset: refused).
				u, err := ss.view.Resume(ctx, p, told)
				if err == nil {
					ss.log.Info("upload continued", "path", p, "offset", told, "by", "APPE")
				}
				return u, told, err
			}
		}
		// APPE onto a stored file copies it into the new upload first:
		// a large file takes longer than one command's usual bound.
		actx, acancel := context.WithTimeout(context.Background(), 2*time.Hour)
		defer acancel()
		u, off, err := ss.view.Append(actx, p)
		if err == nil && off > 0 {
			ss.log.Info("upload continued", "path", p, "offset", off, "by", "APPE")
		}
		return u, off, err
	case offset > 0:
		u, err := ss.view.Resume(ctx, p, offset)
		return u, offset, err
	default:
		u, err := ss.view.Create(ctx, p)
		return u, 0, err
	}
}

// badOffsetMessage is the text of a REST offset that cannot start the
// transfer (554). objfs words ErrBadOffset for downloads ("past the end of
// the file"); a resumed upload's error says itself which offset it takes.
func badOffsetMessage(op, p string, pe *fs.PathError) string {
	msg := pe.Err.Error()
	if op == "upload" {
		msg = strings.TrimPrefix(msg, objfs.ErrBadOffset.Error()+": ")
	}
	return fmt.Sprintf("%s %s: %s", op, p, msg)
}

// suspend keeps a cut upload for resuming, if the store can, and returns
// the offset a resume starts at. ok is false when nothing was kept (the
// upload was aborted instead).
func (h *uploadHandle) suspend(ctx context.Context) (offset int64, ok bool, err error) {
	su, can := h.up.(storage.SuspendableUpload)
	if !can {
		return 0, false, h.up.Abort(ctx)
	}
	if err := su.Suspend(ctx); err != nil {
		return 0, false, err
	}
	if h.offset == 0 && h.up.Written() == 0 {
		return 0, false, nil // nothing could be held
	}
	off, ok, err := h.ss.view.Pending(ctx, h.path)
	if err != nil {
		return 0, false, err
	}
	// Only this upload's own bytes are ever reported kept.
	return off, ok && off <= h.up.Written(), nil
}

// keptReply is what the client of a cut upload is told when it was kept.
func keptReply(why string, offset int64) error {
	return fmt.Errorf("%s: the first %d bytes are kept; send the rest with REST %d and STOR, or with APPE", why, offset, offset)
}

// aborted reports whether the client sent ABOR since the upload started.
func (h *uploadHandle) aborted() bool {
	return h.ss.ctrl != nil && h.ss.ctrl.abors.Load() > h.abors
}

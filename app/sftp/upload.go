package sftp

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/ftps3/ftps3/app/storage"
)

// Upload reordering. SFTP clients pipeline their writes (OpenSSH keeps up
// to 64 requests of 32 KiB in flight) and pkg/sftp hands them to several
// workers, so WriteAt calls arrive slightly out of order, and concurrently.
// The store takes a stream. uploadFile writes each byte range at the next
// offset straight to the stream; a range that starts later is copied and
// held until the gap before it is filled, as long as it ends within the
// window past the next offset. Nothing waits for a gap: a worker never
// blocks on another request, so no set of requests can deadlock.
//
// What cannot be streamed fails with a clear status and poisons the upload,
// which is then aborted at CLOSE: a write beyond the window, a write over
// bytes already streamed (unless it repeats them exactly), and a CLOSE that
// leaves a gap.
//
// An upload that continues a file (a resumed or appended one: resume.go)
// starts at the file's offset, not 0. Until its handle has streamed a byte,
// a misplaced write fails with the offset to write from, and a resumed
// upload is kept as it was (suspended, not aborted). An upload whose handle
// is never closed (the connection was cut, the client killed, the server
// drained) is suspended: the store keeps what it holds for resuming.

var (
	errBeyondWindow = errors.New("write too far ahead of the data received so far: uploads to object storage must be written in order (out-of-order writes are accepted only within a window)")
	errRewrite      = errors.New("write over data already stored: uploads to object storage are written once, in order")
	errGap          = errors.New("the file has a hole (a range that was never written): nothing was stored")
	errAborted      = errors.New("the upload was aborted: nothing was stored")
)

// uploadFile is the io.WriterAt of one upload handle.
type uploadFile struct {
	h      *handlers
	up     storage.Upload
	path   string
	window int64
	start  time.Time
	// base is the offset the handle's first write must continue from: 0,
	// or the offset of a resumed or appended upload.
	base int64
	// resumed: the upload continues a pending upload, which is kept as it
	// was if the client writes nothing in its place.
	resumed bool
	// continues: opened without truncation, to continue whatever the file
	// was (a misplaced first write is told the offset to write from).
	continues bool

	mu      sync.Mutex
	next    int64            // offset of the next byte the stream takes
	pending map[int64][]byte // held ranges by offset (copies)
	held    int64            // bytes held
	err     error            // the first failure; the upload is then aborted
	keep    bool             // ... or suspended: err is a cut, or a resumed upload's misplaced first write
	cut     bool             // the connection ended with the handle open
	cause   error            // the storage error behind errStorage
	closed  bool
	forget  func() // takes the handle out of the fast path (fastpath.go), if it is there
}

func newUploadFile(h *handlers, up storage.Upload, p string, base int64) *uploadFile {
	return &uploadFile{h: h, up: up, path: p, window: h.s.opts.WriteWindow, start: time.Now(),
		base: base, next: base, pending: map[int64][]byte{}}
}

func (u *uploadFile) WriteAt(p []byte, off int64) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case u.closed:
		return 0, errAborted
	case u.err != nil:
		return 0, u.err
	case len(p) == 0:
		return 0, nil
	case off < u.next:
		return 0, u.misplaced(off, fmt.Errorf("%w (offset %d, %d bytes already stored)", errRewrite, off, u.next))
	case off > u.next:
		end := off + int64(len(p))
		if end-u.next > u.window || u.held+int64(len(p)) > u.window {
			return 0, u.misplaced(off, fmt.Errorf("%w (offset %d, next expected %d, window %d bytes)", errBeyondWindow, off, u.next, u.window))
		}
		if old, ok := u.pending[off]; ok {
			if len(old) >= len(p) {
				return len(p), nil // a repeat: keep the first
			}
			u.held -= int64(len(old))
		}
		u.pending[off] = append([]byte(nil), p...)
		u.held += int64(len(p))
		return len(p), nil
	}
	if err := u.stream(p); err != nil {
		return 0, err
	}
	// Take what the write made contiguous.
	for len(u.pending) > 0 {
		b, ok := u.pending[u.next]
		if !ok {
			if err := u.dropStale(); err != nil {
				return 0, err
			}
			if b, ok = u.pending[u.next]; !ok {
				break
			}
		}
		delete(u.pending, u.next)
		u.held -= int64(len(b))
		if err := u.stream(b); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// stream writes p at u.next.
func (u *uploadFile) stream(p []byte) error {
	n, err := u.up.Write(p)
	u.next += int64(n)
	u.h.s.metrics.BytesUploaded.Add(int64(n))
	if err != nil {
		u.cause = err
		return u.fail(storageFailure(err))
	}
	return nil
}

// dropStale handles held ranges that start before the next offset (a
// client that re-sent a range in other sizes): one that only repeats bytes
// already streamed is dropped; one that reaches past them is cut to its
// new part.
func (u *uploadFile) dropStale() error {
	var offs []int64
	for off := range u.pending {
		if off < u.next {
			offs = append(offs, off)
		}
	}
	sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
	for _, off := range offs {
		b := u.pending[off]
		delete(u.pending, off)
		u.held -= int64(len(b))
		if end := off + int64(len(b)); end > u.next {
			rest := b[u.next-off:]
			if _, ok := u.pending[u.next]; !ok {
				u.pending[u.next] = rest
				u.held += int64(len(rest))
			}
		}
	}
	return nil
}

func (u *uploadFile) fail(err error) error {
	if u.err == nil {
		u.err = err
		u.h.log.Warn("upload failed", "path", u.path, "err", err, "cause", u.cause, "bytes", u.next)
	}
	return err
}

// misplaced fails a write at off that cannot be streamed (err says why).
// Before the handle streamed anything, for a client that opened the file to
// continue it, the failure names the offset to write from instead, and a
// resumed upload is kept as it was.
func (u *uploadFile) misplaced(off int64, err error) error {
	if !u.continues || u.next != u.base || u.err != nil {
		return u.fail(err)
	}
	switch {
	case u.resumed:
		err = fmt.Errorf("%w; the bytes received before are kept", &storage.OffsetError{Want: u.base, Got: off})
		u.keep = true
	case u.base > 0:
		err = fmt.Errorf("appending to a file of %d bytes: write from byte %d (a write at byte %d was refused)", u.base, u.base, off)
	default:
		err = fmt.Errorf("there is no cut upload of this file to resume (none was kept, or its resume window ended): write it from byte 0 (a write at byte %d was refused)", off)
	}
	return u.fail(err)
}

// TransferError is called by pkg/sftp when the connection ends with the
// handle still open: the upload is suspended at Close, kept for resuming.
func (u *uploadFile) TransferError(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err == nil {
		u.err = fmt.Errorf("the connection ended before the file was closed: %w", err)
		u.keep, u.cut = true, true
	}
}

// Close commits the upload if every byte arrived in one piece, else aborts
// it; the previous object, if any, is untouched by an abort. A cut upload
// is suspended, and so is a resumed one that the client wrote nothing into
// (or only misplaced writes): left pending as it was.
func (u *uploadFile) Close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil
	}
	u.closed = true
	if u.forget != nil {
		u.forget()
	}
	defer u.h.transferEnded()
	if u.err == nil && len(u.pending) > 0 {
		u.misplaced(slices.Min(slices.Collect(maps.Keys(u.pending))), errGap)
	}
	untouched := u.err == nil && u.resumed && u.next == u.base
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	m := u.h.s.metrics
	if u.err == nil && !untouched {
		if err := u.up.Commit(ctx); err != nil {
			u.cause = err
			u.fail(storageFailure(err))
		}
	}
	u.pending, u.held = nil, 0
	switch {
	case untouched || (u.err != nil && u.keep && !u.cut):
		off, kept, err := u.suspend(ctx)
		u.h.log.Info("resumed upload closed with nothing stored: left pending", "path", u.path, "offset", off, "kept", kept,
			"reason", u.err, "err", err)
		return u.err
	case u.err != nil && u.keep:
		off, kept, err := u.suspend(ctx)
		if kept {
			m.UploadsSuspended.Add(1)
			u.h.log.Info("upload cut: kept for resuming", "path", u.path, "offset", off, "reason", u.err,
				"bytes", u.next, "received", u.next-u.base)
		} else {
			m.UploadsFailed.Add(1)
			u.h.log.Warn("upload cut: discarded, nothing stored", "path", u.path, "reason", u.err, "err", err, "bytes", u.next)
		}
		return u.err
	case u.err != nil:
		if err := u.up.Abort(ctx); err != nil {
			u.h.log.Warn("upload abort failed (retried in the background)", "path", u.path, "err", err)
		}
		m.UploadsFailed.Add(1)
		u.h.log.Warn("upload discarded", "path", u.path, "err", u.err, "cause", u.cause, "bytes", u.next)
		return u.err
	}
	m.UploadsOK.Add(1)
	d := time.Since(u.start)
	args := []any{"path", u.path, "bytes", u.next, "duration", d.Round(time.Millisecond).String()}
	if u.base > 0 {
		args = append(args, "continued_at", u.base, "received", u.next-u.base)
	}
	u.h.log.Info("upload", args...)
	return nil
}

// suspend keeps what the store holds of the upload as the pending upload
// of its name (the store aborts it instead when resuming is off or it holds
// none of it yet), and returns the offset it can resume from, if it was kept.
func (u *uploadFile) suspend(ctx context.Context) (offset int64, kept bool, err error) {
	if s, ok := u.up.(storage.SuspendableUpload); ok {
		err = s.Suspend(ctx)
	} else {
		err = u.up.Abort(ctx)
	}
	if err != nil {
		return 0, false, err
	}
	return u.h.view.Pending(ctx, u.path)
}

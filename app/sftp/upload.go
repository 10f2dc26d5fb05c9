package sftp

import (
	"context"
	"errors"
	"fmt"
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

	mu      sync.Mutex
	next    int64            // offset of the next byte the stream takes
	pending map[int64][]byte // held ranges by offset (copies)
	held    int64            // bytes held
	err     error            // the first failure; the upload is then aborted
	cause   error            // the storage error behind errStorage
	closed  bool
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
		return 0, u.fail(fmt.Errorf("%w (offset %d, %d bytes already stored)", errRewrite, off, u.next))
	case off > u.next:
		end := off + int64(len(p))
		if end-u.next > u.window || u.held+int64(len(p)) > u.window {
			return 0, u.fail(fmt.Errorf("%w (offset %d, next expected %d, window %d bytes)", errBeyondWindow, off, u.next, u.window))
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

// TransferError is called by pkg/sftp when the connection ends with the
// handle still open: the upload is aborted at Close.
func (u *uploadFile) TransferError(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err == nil {
		u.err = fmt.Errorf("the connection ended before the file was closed: %w", err)
	}
}

// Close commits the upload if every byte arrived in one piece, else aborts
// it; the previous object, if any, is untouched by an abort.
func (u *uploadFile) Close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil
	}
	u.closed = true
	defer u.h.transferEnded()
	if u.err == nil && len(u.pending) > 0 {
		u.err = errGap
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	m := u.h.s.metrics
	if u.err == nil {
		if err := u.up.Commit(ctx); err != nil {
			u.cause = err
			u.err = storageFailure(err)
		}
	}
	u.pending, u.held = nil, 0
	if u.err != nil {
		if err := u.up.Abort(ctx); err != nil {
			u.h.log.Warn("upload abort failed (retried in the background)", "path", u.path, "err", err)
		}
		m.UploadsFailed.Add(1)
		u.h.log.Warn("upload discarded", "path", u.path, "err", u.err, "cause", u.cause, "bytes", u.next)
		return u.err
	}
	m.UploadsOK.Add(1)
	d := time.Since(u.start)
	u.h.log.Info("upload", "path", u.path, "bytes", u.next, "duration", d.Round(time.Millisecond).String())
	return nil
}

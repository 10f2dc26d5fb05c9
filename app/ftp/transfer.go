package ftp

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/ftps3/ftps3/app/objfs"
	"github.com/ftps3/ftps3/app/storage"
	"github.com/ftps3/ftps3/app/storage/digest"
)

// What a client is told when an upload fails; the detail goes to the log.
var (
	errTruncated = errors.New("the data connection ended without a TLS close_notify: the upload may be cut short, so it was discarded")
	errStorage   = errors.New("the storage service failed: the upload was discarded and nothing was stored; try again")
	errCut       = errors.New("the transfer was interrupted: the upload was discarded and nothing was stored")
	errChanged   = errors.New("the storage service found the bytes changed in transit: nothing was stored, send the file again")
	errAborted   = errors.New("cancelled by ABOR")
)

// storageFailed is what the client is told when the store failed an upload.
func storageFailed(err error) error {
	if errors.Is(err, storage.ErrChecksumMismatch) {
		return errChanged
	}
	return errStorage
}

// GetHandle implements the transfer extension: STOR opens a streaming
// upload (a new one, or with "REST n" the pending upload resumed at n),
// APPE one that continues what the name holds (resume.go), RETR a (ranged)
// download, each through the user's view.
func (ss *session) GetHandle(name string, flags int, offset int64) (ftpserver.FileTransfer, error) {
	if ss.s.draining.Load() {
		return nil, errDraining
	}
	p := objfs.Clean(name)
	if flags&(os.O_WRONLY|os.O_RDWR) == 0 {
		ss.sizeTold.take(p) // a transfer between SIZE and APPE
		ctx, cancel := opCtx()
		defer cancel()
		r, _, err := ss.view.Open(ctx, p, offset)
		if err != nil {
			return nil, ss.forClient(err, true)
		}
		ss.transferStarted()
		return &downloadHandle{ss: ss, r: r, path: p, offset: offset, start: time.Now()}, nil
	}
	if ss.view.ReadOnly() {
		return nil, &fs.PathError{Op: "upload", Path: p, Err: objfs.ErrReadOnly}
	}
	h := &uploadHandle{ss: ss, path: p, start: time.Now()}
	if ss.ctrl != nil {
		h.abors = ss.ctrl.abors.Load()
	}
	var err error
	h.up, h.offset, err = ss.openUpload(p, flags&os.O_APPEND != 0, offset)
	if err != nil {
		return nil, ss.forClient(err, true)
	}
	ss.transferStarted()
	return h, nil
}

func (ss *session) transferStarted() {
	ss.s.transfers.Add(1)
	ss.s.metrics.TransfersActive.Add(1)
}

// transferEnded is called by the handle's Close; the transfer stops counting
// for a draining server once its final reply is written. A transfer whose
// data never started to flow (its data connection did not open) was
// answered before its handle closed: it stops counting at once.
func (ss *session) transferEnded(flowed bool) {
	ss.s.metrics.TransfersActive.Add(-1)
	if ss.ctrl == nil || !flowed {
		ss.s.transfers.Done()
		return
	}
	ss.ctrl.afterNextReply(ss.s.transfers.Done)
}

// uploadHandle receives a STOR or APPE. Close decides: the object is
// committed only if the transfer ended cleanly (and, over TLS, with a
// close_notify); a cut upload is kept for resuming (resume.go); one that
// was cancelled or that the store failed is aborted. Until a commit, the
// previous object, if any, stays.
type uploadHandle struct {
	ss      *session
	up      storage.Upload
	dc      *dataConn // the data connection, once the library hands it over
	flowed  bool      // the library started copying the data
	path    string
	offset  int64 // where the client's bytes start (a resume, APPE)
	abors   int64 // the session's ABOR count when the upload started
	start   time.Time
	xferErr error
	cause   error // the storage error behind errStorage
	closed  atomic.Bool
}

func (h *uploadHandle) Write(p []byte) (int, error) {
	n, err := h.up.Write(p)
	h.ss.s.metrics.BytesUploaded.Add(int64(n))
	if err != nil {
		h.cause = err
		return n, storageFailed(err)
	}
	return n, nil
}

// ReadFrom lets io.Copy in ftpserverlib hand over the data connection, so
// the store can read it straight into its part buffers. A read error is the
// connection's; any other error is the store's.
func (h *uploadHandle) ReadFrom(r io.Reader) (int64, error) {
	h.dc, h.flowed = dataConnOf(r), true
	rf, ok := h.up.(io.ReaderFrom)
	if !ok {
		return io.Copy(struct{ io.Writer }{h}, r)
	}
	cr := &countingReader{r: r, metrics: &h.ss.s.metrics.BytesUploaded}
	n, err := rf.ReadFrom(cr)
	if err != nil && cr.err == nil {
		h.cause = err
		return n, storageFailed(err)
	}
	return n, err
}

// countingReader counts bytes into a metric and remembers its read error.
type countingReader struct {
	r       io.Reader
	metrics interface{ Add(int64) int64 }
	err     error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.metrics.Add(int64(n))
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

func (h *uploadHandle) Read([]byte) (int, error) { return 0, errors.New("upload handle is write-only") }

// Seek accepts the REST offset the upload was opened at (the library seeks
// to it after GetHandle).
func (h *uploadHandle) Seek(off int64, whence int) (int64, error) {
	if whence != io.SeekStart || off != h.offset {
		return 0, objfs.ErrNotSupported
	}
	return off, nil
}

// TransferError is called by ftpserverlib on ABOR, a dropped connection, or
// a copy error, before Close.
func (h *uploadHandle) TransferError(err error) { h.xferErr = err }

func (h *uploadHandle) Close() error {
	if h.closed.Swap(true) {
		return nil
	}
	defer func() { h.ss.transferEnded(h.flowed) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// Why the upload cannot be committed, and what the client is told.
	var reason, reply error
	cut := "" // how the client or the network cut it: kept for resuming
	switch {
	case h.cause != nil && errors.Is(h.cause, storage.ErrUnavailable):
		// S3 failing for a while is a cut too: what it holds is kept.
		reason, reply, cut = h.cause, storageFailed(h.cause), "the storage service was unavailable"
	case h.cause != nil:
		reason, reply = h.cause, storageFailed(h.cause)
	case h.xferErr != nil: // ABOR, a dropped connection, a read error
		reason, reply, cut = h.xferErr, errCut, "the transfer was interrupted"
	case h.ss.s.opts.RequireCloseNotify && h.cutShort():
		reason, reply, cut = errTruncated, errTruncated, "the data connection ended without a TLS close_notify"
	}
	if cut != "" && h.aborted() {
		reason, cut = errAborted, ""
	}
	if cut != "" {
		off, kept, err := h.suspend(ctx)
		if kept {
			h.kept(cut, off)
			return keptReply(cut, off)
		}
		h.done(reason, err)
		return reply
	}
	if reason != nil {
		aerr := h.up.Abort(ctx)
		h.done(reason, aerr)
		return reply
	}
	if err := h.up.Commit(ctx); err != nil {
		h.done(err, nil)
		return storageFailed(err)
	}
	h.done(nil, nil)
	return nil
}

// cutShort reports whether the upload's data connection ended with a bare
// TCP close (see dataconn.go). If the upload never saw its connection, it is
// treated as cut: nothing unverified is committed.
func (h *uploadHandle) cutShort() bool {
	return h.dc == nil || h.dc.endedWithoutCloseNotify()
}

// kept logs an upload cut and kept for resuming at offset.
func (h *uploadHandle) kept(why string, offset int64) {
	h.ss.s.metrics.UploadsFailed.Add(1)
	attrs := h.attrs("offset", offset, "cut", why)
	if h.xferErr != nil {
		attrs = append(attrs, "err", h.xferErr)
	}
	h.ss.log.Warn("upload cut: kept for resuming", attrs...)
}

// attrs are the log attributes of the upload, then more.
func (h *uploadHandle) attrs(more ...any) []any {
	attrs := []any{"path", h.path, "bytes", h.up.Written()}
	if h.offset > 0 {
		attrs = append(attrs, "from", h.offset)
	}
	attrs = append(attrs, "duration", time.Since(h.start).Round(time.Millisecond).String())
	return append(attrs, more...)
}

func (h *uploadHandle) done(err, abortErr error) {
	attrs := h.attrs()
	if err != nil {
		h.ss.s.metrics.UploadsFailed.Add(1)
		if abortErr != nil {
			attrs = append(attrs, "abort_err", abortErr)
		}
		h.ss.log.Warn("upload failed: nothing stored", append(attrs, "err", err)...)
		return
	}
	h.ss.s.metrics.UploadsOK.Add(1)
	if su, ok := h.up.(storage.SummedUpload); ok {
		sums := su.Sums()
		for _, a := range digest.All {
			if v, ok := sums[a]; ok {
				attrs = append(attrs, string(a), v)
			}
		}
	}
	h.ss.log.Info("upload stored", attrs...)
}

// downloadHandle streams a RETR from the store.
type downloadHandle struct {
	ss      *session
	r       io.ReadCloser
	path    string
	offset  int64
	sent    int64
	start   time.Time
	xferErr error
	flowed  bool // the library started copying the data
	closed  atomic.Bool
}

func (h *downloadHandle) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.sent += int64(n)
	h.ss.s.metrics.BytesDownloaded.Add(int64(n))
	return n, err
}

// WriteTo sends the object in large reads from the store, instead of
// io.Copy's 32 KiB (fewer system calls on both sides).
// Each chunk is flushed from the data connection's batch once written, so
// a pause of the store never holds back bytes already read.
func (h *downloadHandle) WriteTo(w io.Writer) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	dc := dataConnOf(w)
	h.flowed = true
	var total int64
	for {
		n, rerr := h.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr == nil && dc != nil {
				werr = dc.Flush()
			}
			if werr != nil {
				return total, werr
			}
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

func (h *downloadHandle) Write([]byte) (int, error) {
	return 0, errors.New("download handle is read-only")
}

// Seek accepts the REST offset the download was opened at.
func (h *downloadHandle) Seek(off int64, whence int) (int64, error) {
	if whence != io.SeekStart || off != h.offset {
		return 0, objfs.ErrNotSupported
	}
	return off, nil
}

func (h *downloadHandle) TransferError(err error) { h.xferErr = err }

func (h *downloadHandle) Close() error {
	if h.closed.Swap(true) {
		return nil
	}
	defer func() { h.ss.transferEnded(h.flowed) }()
	err := h.r.Close()
	attrs := []any{"path", h.path, "offset", h.offset, "bytes", h.sent, "duration", time.Since(h.start).Round(time.Millisecond).String()}
	if h.xferErr != nil {
		h.ss.s.metrics.DownloadsFailed.Add(1)
		h.ss.log.Warn("download interrupted", append(attrs, "err", h.xferErr)...)
		return nil
	}
	h.ss.s.metrics.DownloadsOK.Add(1)
	h.ss.log.Info("download sent", attrs...)
	return err
}

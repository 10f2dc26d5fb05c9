package sftp

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"sync"
	"time"

	"github.com/ftps3/ftps3/app/objfs"
)

// Downloads. SFTP reads come as ReadAt calls at offsets, several in flight
// (OpenSSH: up to 64 of 32 KiB). The fast path (fastpath.go) serves them in
// the order the client sent them; those pkg/sftp serves are handed to
// several workers and arrive nearly, not exactly, in order. downloadFile keeps
// one ranged GET open at the stream position and reads ahead of the client
// in chunks, keeping the recent chunks (up to the read-ahead size) so that
// requests arriving out of order are served from memory. A read outside
// what is kept, behind or far ahead, closes the stream and opens a new
// ranged GET at its offset: random reads work, sequential ones stream.

// readChunk is how much one read from the stream takes.
const readChunk = 256 << 10

type chunk struct {
	off  int64
	data []byte
}

// downloadFile is the io.ReaderAt of one download handle.
type downloadFile struct {
	h     *handlers
	view  *objfs.View
	path  string
	size  int64
	keep  int // bytes of chunks kept (the read-ahead)
	start time.Time

	mu     sync.Mutex
	stream io.ReadCloser
	pos    int64    // offset of the stream's next byte
	chunks []chunk  // contiguous, ending at pos
	spare  [][]byte // buffers of dropped chunks, reused
	kept   int
	sent   int64
	opens  int
	err    error
	closed bool
	forget func() // takes the handle out of the fast path (fastpath.go), if it is there
}

func (d *downloadFile) ReadAt(p []byte, off int64) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return 0, fs.ErrClosed
	}
	if off < 0 {
		return 0, errNegativeOffset
	}
	if off >= d.size {
		return 0, io.EOF
	}
	want := min(int64(len(p)), d.size-off)
	end := off + want
	if d.stream == nil || off < d.keptStart() || off > d.pos+int64(d.keep) {
		if err := d.reopen(off); err != nil {
			return 0, err
		}
	}
	for d.pos < end {
		if err := d.fill(); err != nil {
			return d.copyOut(p[:want], off), err
		}
	}
	n := d.copyOut(p[:want], off)
	d.sent += int64(n)
	d.h.s.metrics.BytesDownloaded.Add(int64(n))
	if int64(n) < int64(len(p)) {
		return n, io.EOF
	}
	return n, nil
}

func (d *downloadFile) keptStart() int64 {
	if len(d.chunks) == 0 {
		return d.pos
	}
	return d.chunks[0].off
}

// reopen starts a ranged GET at off, dropping what was kept.
func (d *downloadFile) reopen(off int64) error {
	if d.stream != nil {
		d.stream.Close()
		d.stream = nil
	}
	for _, c := range d.chunks {
		d.spare = append(d.spare, c.data[:0])
	}
	d.chunks, d.kept = nil, 0
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, _, err := d.view.Open(ctx, d.path, off)
	if err != nil {
		d.err = err
		return status(err)
	}
	d.stream, d.pos = r, off
	d.opens++
	return nil
}

// fill reads the next chunk from the stream, dropping the oldest chunks
// beyond the read-ahead.
func (d *downloadFile) fill() error {
	n := int(min(int64(readChunk), d.size-d.pos))
	if n <= 0 {
		return io.EOF
	}
	var buf []byte
	if k := len(d.spare); k > 0 {
		buf, d.spare = d.spare[k-1][:n], d.spare[:k-1]
	} else {
		buf = make([]byte, n, readChunk)
	}
	got, err := io.ReadFull(d.stream, buf)
	if got > 0 {
		d.chunks = append(d.chunks, chunk{off: d.pos, data: buf[:got]})
		d.pos += int64(got)
		d.kept += got
		for d.kept > d.keep && len(d.chunks) > 1 {
			d.kept -= len(d.chunks[0].data)
			d.spare = append(d.spare, d.chunks[0].data[:0])
			d.chunks[0] = chunk{}
			d.chunks = d.chunks[1:]
		}
	}
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = errors.New("the object ended before its size: it may have been replaced during the download")
		}
		d.err = err
		d.stream.Close()
		d.stream = nil
		return status(errStorageRead)
	}
	return nil
}

var (
	errStorageRead    = errors.New("the storage service failed during the download; try again")
	errNegativeOffset = errors.New("a read at a negative offset")
)

// copyOut copies the kept bytes from off into p.
func (d *downloadFile) copyOut(p []byte, off int64) int {
	n := 0
	for _, c := range d.chunks {
		if off+int64(n) >= c.off+int64(len(c.data)) {
			continue
		}
		if off+int64(n) < c.off {
			break
		}
		n += copy(p[n:], c.data[off+int64(n)-c.off:])
		if n == len(p) {
			break
		}
	}
	return n
}

// TransferError is called by pkg/sftp when the connection ends with the
// handle still open.
func (d *downloadFile) TransferError(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err == nil {
		d.err = err
	}
}

func (d *downloadFile) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	defer d.h.transferEnded()
	if d.forget != nil {
		d.forget()
	}
	if d.stream != nil {
		d.stream.Close()
	}
	d.chunks, d.spare = nil, nil
	m := d.h.s.metrics
	if d.err != nil {
		m.DownloadsFailed.Add(1)
		d.h.log.Warn("download failed", "path", d.path, "err", d.err, "bytes", d.sent)
		return nil
	}
	m.DownloadsOK.Add(1)
	d.h.log.Info("download", "path", d.path, "bytes", d.sent, "ranged_gets", d.opens,
		"duration", time.Since(d.start).Round(time.Millisecond).String())
	return nil
}

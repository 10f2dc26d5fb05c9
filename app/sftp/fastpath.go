package sftp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"reflect"
	"runtime/debug"
	"sync"

	"github.com/pkg/sftp"
)

// The fast path.
//
// pkg/sftp hands every READ and WRITE request to one of its workers: it
// allocates the packet's data, passes it through three goroutines and a
// reordering queue, and the workers, racing, call ReadAt and WriteAt out of
// order (uploadFile then holds copies; downloadFile serves reads from what
// it kept). For a transfer that is most of the gateway's work per byte
// beside the cipher. So the session's channel (sessionChannel.Read) looks at
// each request before pkg/sftp does: a WRITE to a handle open for upload is
// written at once, from the read buffer, in the order the client sent it,
// and answered with its status; a READ of a handle open for download is
// read at once and answered with its data. pkg/sftp never sees them. Every
// other request, and a WRITE the fast path cannot take (a handle it does not
// know, a packet larger than the read buffer), goes to pkg/sftp as before;
// uploadFile and downloadFile take requests from both in any order, as they
// always did.
//
// Replies to such requests may overtake pkg/sftp's replies to earlier
// requests (an FSTAT of the same handle, say): SFTP clients match replies to
// requests by id (OpenSSH, paramiko and pkg/sftp's client all do). A
// handle's writes are all taken here, in order, until one is too large for
// the read buffer (a client writing in chunks over 128 KiB) or malformed:
// from then on the handle's writes are all pkg/sftp's, so none overtakes one
// it holds. A malformed READ is pkg/sftp's to refuse; reads change nothing,
// so the handle's later reads stay here. A CLOSE only reaches pkg/sftp after
// the requests before it were answered.
//
// The fast path runs on the session's one reader: while a read waits for
// the store (the first bytes of a ranged GET), the session's other requests
// wait too, as they did behind a write.

// fastHandle is what the fast path serves for one handle: an upload or a
// download.
type fastHandle struct {
	up   *uploadFile
	down *downloadFile
}

// fastHandles are a session's transfer handles, by the handle string
// pkg/sftp gave each one.
type fastHandles struct {
	mu sync.Mutex
	m  map[string]fastHandle
}

func newFastHandles() *fastHandles { return &fastHandles{m: map[string]fastHandle{}} }

// add records the transfer of the handle of r, and returns the function
// that takes it out again ("" handle: a Request whose handle cannot be
// read, from another pkg/sftp, is left to pkg/sftp).
func (w *fastHandles) add(r *sftp.Request, fh fastHandle) (forget func()) {
	if w == nil {
		return nil
	}
	h := handleOf(r)
	if h == "" {
		return nil
	}
	w.mu.Lock()
	w.m[h] = fh
	w.mu.Unlock()
	return func() { w.remove(h) }
}

// addUpload and addDownload record a transfer the fast path serves.
func (w *fastHandles) addUpload(r *sftp.Request, u *uploadFile) {
	if forget := w.add(r, fastHandle{up: u}); forget != nil {
		u.mu.Lock()
		u.forget = forget
		u.mu.Unlock()
	}
}

func (w *fastHandles) addDownload(r *sftp.Request, d *downloadFile) {
	if forget := w.add(r, fastHandle{down: d}); forget != nil {
		d.mu.Lock()
		d.forget = forget
		d.mu.Unlock()
	}
}

func (w *fastHandles) get(h string) fastHandle {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.m[h]
}

func (w *fastHandles) remove(h string) {
	w.mu.Lock()
	delete(w.m, h)
	w.mu.Unlock()
}

// handleOf is the handle pkg/sftp (v1.13) gave the Request, which it does
// not export; "" if it cannot be read.
func handleOf(r *sftp.Request) string {
	v := reflect.ValueOf(r).Elem().FieldByName("handle")
	if !v.IsValid() || v.Kind() != reflect.String {
		return ""
	}
	return v.String()
}

// SFTP packet types and status codes (draft-ietf-secsh-filexfer-02).
const (
	fxpClose  = 4
	fxpRead   = 5
	fxpWrite  = 6
	fxpStatus = 101
	fxpData   = 103

	fxOK               = 0
	fxEOF              = 1
	fxNoSuchFile       = 2
	fxPermissionDenied = 3
	fxFailure          = 4
	fxBadMessage       = 5
	fxOpUnsupported    = 8
)

// errFastPath ends a session whose request the fast path failed on (a bug:
// the session ends, with its uploads kept or aborted as for a cut
// connection; the server goes on).
type errFastPath struct{ cause any }

func (e errFastPath) Error() string { return fmt.Sprintf("sftp fast path failed: %v", e.cause) }

// serveFastSafely is serveFast, a panic turned into the read's error.
func (c *sessionChannel) serveFastSafely() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errFastPath{cause: fmt.Sprintf("%v\n%s", r, debug.Stack())}
		}
	}()
	c.serveFast()
	return nil
}

// serveFast serves the WRITE and READ requests at the head of the read
// buffer that go to known transfer handles, and notes the CLOSE of a
// handle. It returns when the next request is pkg/sftp's (or the read
// failed: pkg/sftp's own read then sees the error). A malformed request is
// pkg/sftp's to refuse.
func (c *sessionChannel) serveFast() {
	for {
		hdr, err := c.rd.Peek(9) // length, type, request id
		if err != nil {
			return
		}
		length := uint64(binary.BigEndian.Uint32(hdr))
		typ := hdr[4]
		if (typ != fxpWrite && typ != fxpRead && typ != fxpClose) || length < 5 {
			return
		}
		if typ == fxpClose || length+4 > uint64(c.rd.Size()) {
			// Closed, or a request too large for the buffer: the handle's
			// later requests, if any, are pkg/sftp's too (a write it holds
			// must not be overtaken).
			if handle, ok := c.peekHandle(length); ok {
				c.fast.remove(handle)
			}
			return
		}
		size := int(length) + 4
		pkt, err := c.rd.Peek(size)
		if err != nil {
			return
		}
		id := binary.BigEndian.Uint32(pkt[5:])
		handle, rest, ok := sshField(pkt[9:])
		if !ok || len(rest) < 8 {
			return
		}
		fh := c.fast.get(string(handle))
		off := int64(binary.BigEndian.Uint64(rest))
		var reply []byte
		switch {
		case typ == fxpWrite && fh.up != nil:
			data, tail, ok := sshField(rest[8:])
			if !ok || len(tail) != 0 || off < 0 {
				c.fast.remove(string(handle)) // pkg/sftp's to answer, and the handle's later writes too
				return
			}
			c.requests.Add(1)
			_, werr := fh.up.WriteAt(data, off)
			c.rd.Discard(size)
			c.fastWrites.Add(1)
			reply = statusPacket(id, werr)
		case typ == fxpRead && fh.down != nil:
			if len(rest) != 8+4 || off < 0 {
				return
			}
			want := binary.BigEndian.Uint32(rest[8:])
			c.requests.Add(1)
			c.rd.Discard(size)
			c.fastReads.Add(1)
			reply = c.readReply(fh.down, id, off, want)
		default:
			return
		}
		if err := c.reply(reply); err != nil {
			return
		}
	}
}

// maxReadReply bounds the data of one READ's reply, as pkg/sftp's request
// server does by default (server.go sets no other): clients ask again for
// the rest.
const maxReadReply = 32 << 10

// readReply reads what a READ asked for and makes its reply: the data,
// or the status of a read that failed or started at the end (EOF), as
// pkg/sftp answers.
func (c *sessionChannel) readReply(d *downloadFile, id uint32, off int64, want uint32) []byte {
	const hdr = 4 + 1 + 4 + 4 // length, type, id, data length
	n := int(min(want, maxReadReply))
	if cap(c.readBuf) < hdr+n {
		c.readBuf = make([]byte, hdr+maxReadReply)
	}
	b := c.readBuf[:hdr+n]
	got, err := d.ReadAt(b[hdr:], off)
	if err != nil && (!errors.Is(err, io.EOF) || got == 0) {
		return statusPacket(id, err)
	}
	b = b[:hdr+got]
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	b[4] = fxpData
	binary.BigEndian.PutUint32(b[5:], id)
	binary.BigEndian.PutUint32(b[9:], uint32(got))
	return b
}

// maxHandle bounds the handles peekHandle reads (pkg/sftp's are decimal
// numbers).
const maxHandle = 256

// peekHandle reads the handle of the request at the head of the buffer, of
// the given length (type and id included), without taking the request.
func (c *sessionChannel) peekHandle(length uint64) (string, bool) {
	if length < 5+4 {
		return "", false
	}
	b, err := c.rd.Peek(13)
	if err != nil {
		return "", false
	}
	n := uint64(binary.BigEndian.Uint32(b[9:]))
	if n > maxHandle || 5+4+n > length {
		return "", false
	}
	b, err = c.rd.Peek(13 + int(n))
	if err != nil {
		return "", false
	}
	return string(b[13:]), true
}

// sshField splits an SSH string (uint32 length, then the bytes) off b.
func sshField(b []byte) (field, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, nil, false
	}
	return b[4 : 4+n], b[4+n:], true
}

// statusPacket is the SSH_FXP_STATUS reply to request id: OK, or err's
// message with the code pkg/sftp would give it.
func statusPacket(id uint32, err error) []byte {
	code, msg := uint32(fxOK), ""
	if err != nil {
		code, msg = fxFailure, err.Error()
		switch {
		case errors.Is(err, io.EOF):
			code = fxEOF
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, sftp.ErrSSHFxNoSuchFile):
			code = fxNoSuchFile
		case errors.Is(err, sftp.ErrSSHFxPermissionDenied):
			code = fxPermissionDenied
		case errors.Is(err, sftp.ErrSSHFxBadMessage):
			code = fxBadMessage
		case errors.Is(err, sftp.ErrSSHFxOpUnsupported):
			code = fxOpUnsupported
		}
	}
	b := make([]byte, 4, 4+1+4+4+4+len(msg)+4)
	b = append(b, fxpStatus)
	b = binary.BigEndian.AppendUint32(b, id)
	b = binary.BigEndian.AppendUint32(b, code)
	b = binary.BigEndian.AppendUint32(b, uint32(len(msg)))
	b = append(b, msg...)
	b = binary.BigEndian.AppendUint32(b, 0) // language tag
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

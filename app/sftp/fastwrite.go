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

// The upload fast path.
//
// pkg/sftp hands every WRITE request to one of its workers: it allocates the
// packet's data, passes it through three goroutines and a reordering queue,
// and the workers, racing, call WriteAt out of order (uploadFile then holds
// copies). For an upload that is most of the gateway's work per byte beside
// the cipher. So the session's channel (sessionChannel.Read) looks at each
// request before pkg/sftp does: a WRITE to a handle open for upload is
// written at once, from the read buffer, in the order the client sent it,
// and answered with its status; pkg/sftp never sees it. Every other request,
// and a WRITE the fast path cannot take (a handle it does not know, a packet
// larger than the read buffer), goes to pkg/sftp as before; uploadFile takes
// writes from both in any order, as it always did.
//
// Replies to such writes may overtake pkg/sftp's replies to earlier requests
// on other handles: SFTP clients match replies to requests by id (OpenSSH,
// paramiko and pkg/sftp's client all do). A handle's writes are all taken
// here, in order, until one is too large for the read buffer (a client
// writing in chunks over 128 KiB): from then on the handle's writes are all
// pkg/sftp's, so none overtakes one it holds. A CLOSE only reaches pkg/sftp
// after the writes before it were written.

// writeHandles are a session's upload handles, by the handle string pkg/sftp
// gave each one.
type writeHandles struct {
	mu sync.Mutex
	m  map[string]*uploadFile
}

func newWriteHandles() *writeHandles { return &writeHandles{m: map[string]*uploadFile{}} }

// add records u as the upload of the handle of r; a Request whose handle
// cannot be read (another pkg/sftp) is left to pkg/sftp.
func (w *writeHandles) add(r *sftp.Request, u *uploadFile) {
	if w == nil {
		return
	}
	if h := handleOf(r); h != "" {
		w.mu.Lock()
		w.m[h] = u
		w.mu.Unlock()
		u.mu.Lock()
		u.forget = func() { w.remove(h) }
		u.mu.Unlock()
	}
}

func (w *writeHandles) get(h string) *uploadFile {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.m[h]
}

func (w *writeHandles) remove(h string) {
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
	fxpWrite  = 6
	fxpStatus = 101

	fxOK               = 0
	fxEOF              = 1
	fxNoSuchFile       = 2
	fxPermissionDenied = 3
	fxFailure          = 4
	fxOpUnsupported    = 8
)

// errFastPath ends a session whose request the fast path failed on (a bug:
// the session ends, with its uploads kept or aborted as for a cut
// connection; the server goes on).
type errFastPath struct{ cause any }

func (e errFastPath) Error() string { return fmt.Sprintf("sftp upload fast path failed: %v", e.cause) }

// serveWritesSafely is serveWrites, a panic turned into the read's error.
func (c *sessionChannel) serveWritesSafely() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errFastPath{cause: fmt.Sprintf("%v\n%s", r, debug.Stack())}
		}
	}()
	c.serveWrites()
	return nil
}

// serveWrites writes the WRITE requests at the head of the read buffer that
// go to known upload handles, and notes the CLOSE of a handle. It returns
// when the next request is pkg/sftp's (or the read failed: pkg/sftp's own
// read then sees the error). A malformed request is pkg/sftp's to refuse.
func (c *sessionChannel) serveWrites() {
	for {
		hdr, err := c.rd.Peek(9) // length, type, request id
		if err != nil {
			return
		}
		length := uint64(binary.BigEndian.Uint32(hdr))
		typ := hdr[4]
		if (typ != fxpWrite && typ != fxpClose) || length < 5 {
			return
		}
		if typ == fxpClose || length+4 > uint64(c.rd.Size()) {
			// The handle's later writes, if any, are pkg/sftp's too: a
			// write it holds must not be overtaken.
			if handle, ok := c.peekHandle(length); ok {
				c.writes.remove(handle)
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
		u := c.writes.get(string(handle))
		if u == nil {
			return
		}
		off := int64(binary.BigEndian.Uint64(rest))
		data, tail, ok := sshField(rest[8:])
		if !ok || len(tail) != 0 || off < 0 {
			c.writes.remove(string(handle)) // pkg/sftp's to answer, and the handle's later writes too
			return
		}
		c.requests.Add(1)
		_, werr := u.WriteAt(data, off)
		c.rd.Discard(size)
		c.fastWrites.Add(1)
		if err := c.reply(statusPacket(id, werr)); err != nil {
			return
		}
	}
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

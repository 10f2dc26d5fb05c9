package sftp

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"reflect"
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
// paramiko and pkg/sftp's client all do). Writes to one handle are still
// answered in order, and a CLOSE only reaches pkg/sftp after the writes
// before it were written.

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
	fxNoSuchFile       = 2
	fxPermissionDenied = 3
	fxFailure          = 4
	fxOpUnsupported    = 8
)

// serveWrites writes the WRITE requests at the head of the read buffer that
// go to known upload handles, and notes the CLOSE of a handle. It returns
// when the next request is pkg/sftp's (or the read failed: pkg/sftp's own
// read then sees the error).
func (c *sessionChannel) serveWrites() {
	for {
		hdr, err := c.rd.Peek(5)
		if err != nil {
			return
		}
		size := int(binary.BigEndian.Uint32(hdr)) + 4
		typ := hdr[4]
		if (typ != fxpWrite && typ != fxpClose) || size > c.rd.Size() {
			return
		}
		pkt, err := c.rd.Peek(size)
		if err != nil {
			return
		}
		if typ == fxpClose {
			if handle, _, ok := sshField(pkt[9:]); ok {
				c.writes.remove(string(handle))
			}
			return
		}
		id := binary.BigEndian.Uint32(pkt[5:])
		handle, rest, ok := sshField(pkt[9:])
		if !ok || len(rest) < 8 {
			return
		}
		u := c.writes.get(string(handle))
		off := int64(binary.BigEndian.Uint64(rest))
		data, tail, ok := sshField(rest[8:])
		if u == nil || !ok || len(tail) != 0 || off < 0 {
			return
		}
		_, werr := u.WriteAt(data, off)
		c.rd.Discard(size)
		c.requests.Add(1)
		c.fastWrites.Add(1)
		if err := c.reply(statusPacket(id, werr)); err != nil {
			return
		}
	}
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

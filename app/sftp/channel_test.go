package sftp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// recordingChannel is an ssh.Channel that records each Write, and holds the
// first one until released (a slow network).
type recordingChannel struct {
	ssh.Channel
	mu      sync.Mutex
	writes  [][]byte
	started chan struct{}
	release chan struct{}
}

func (c *recordingChannel) Write(p []byte) (int, error) {
	c.mu.Lock()
	first := len(c.writes) == 0
	c.writes = append(c.writes, append([]byte(nil), p...))
	c.mu.Unlock()
	if first {
		close(c.started)
		<-c.release
	}
	return len(p), nil
}

func (c *recordingChannel) Read([]byte) (int, error) { select {} }
func (c *recordingChannel) CloseWrite() error        { return nil }
func (c *recordingChannel) Close() error             { return nil }

// reply writes one SFTP reply as pkg/sftp does: its header, then its payload.
func reply(t *testing.T, sc *sessionChannel, payload string) {
	t.Helper()
	hdr := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
	if _, err := sc.Write(hdr); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Write([]byte(payload)); err != nil {
		t.Fatal(err)
	}
}

// Replies go out whole (header and payload in one write of the channel),
// the first at once, and those written while a write is under way together
// in the next; every reply is counted once sent.
func TestRepliesAreBatched(t *testing.T) {
	ch := &recordingChannel{started: make(chan struct{}), release: make(chan struct{})}
	srv := &Server{channels: map[*sessionChannel]bool{}}
	sc := srv.newSessionChannel(ch)
	reply(t, sc, "first")
	<-ch.started // the first reply is being sent without waiting for more
	reply(t, sc, "second")
	reply(t, sc, "third")
	close(ch.release)
	sc.end()

	if len(ch.writes) != 2 {
		t.Fatalf("%d channel writes, want 2: %q", len(ch.writes), ch.writes)
	}
	if got := string(ch.writes[0][4:]); got != "first" {
		t.Errorf("first write %q", got)
	}
	if got, want := len(ch.writes[1]), 2*4+len("second")+len("third"); got != want {
		t.Errorf("second write: %d bytes, want %d", got, want)
	}
	if n := sc.replies.Load(); n != 3 {
		t.Errorf("%d replies counted, want 3", n)
	}
	if _, err := sc.Write([]byte{0, 0, 0, 1}); err == nil {
		t.Error("a write after the end succeeded")
	}
}

// A reply of the channel's own (the upload fast path's) never lands inside
// one of pkg/sftp's, which comes in two writes: it waits for the payload.
func TestOwnReplyWaitsForAWholeReply(t *testing.T) {
	ch := &recordingChannel{started: make(chan struct{}), release: make(chan struct{})}
	close(ch.release)
	srv := &Server{channels: map[*sessionChannel]bool{}}
	sc := srv.newSessionChannel(ch)
	payload := "pkg/sftp's reply"
	if _, err := sc.Write(binary.BigEndian.AppendUint32(nil, uint32(len(payload)))); err != nil {
		t.Fatal(err)
	}
	own := make(chan error, 1)
	go func() { own <- sc.reply(statusPacket(7, nil)) }()
	time.Sleep(50 * time.Millisecond) // the reply would be in by now, had it not waited
	if _, err := sc.Write([]byte(payload)); err != nil {
		t.Fatal(err)
	}
	if err := <-own; err != nil {
		t.Fatal(err)
	}
	sc.end()

	var stream []byte
	for _, w := range ch.writes {
		stream = append(stream, w...)
	}
	var got []string
	for len(stream) >= 4 {
		n := int(binary.BigEndian.Uint32(stream))
		if 4+n > len(stream) {
			t.Fatalf("a reply cut short: %q", stream)
		}
		got = append(got, string(stream[4:4+n]))
		stream = stream[4+n:]
	}
	if len(got) != 2 || got[0] != payload || got[1][0] != fxpStatus {
		t.Fatalf("replies sent: %q", got)
	}
}

// streamChannel is an ssh.Channel that reads from a byte stream.
type streamChannel struct {
	recordingChannel
	r *bytes.Reader
}

func (c *streamChannel) Read(p []byte) (int, error) { return c.r.Read(p) }

// Malformed WRITE, READ and CLOSE requests (too short, lengths past the
// packet, huge, negative offsets) reach pkg/sftp untouched, to refuse as it
// does: the fast path reads none of them, and nothing panics.
func TestFastPathLeavesMalformedRequests(t *testing.T) {
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for name, stream := range map[string][]byte{
		"close of length 1":         {0, 0, 0, 1, fxpClose},
		"write of length 1":         {0, 0, 0, 1, fxpWrite},
		"write of length 4":         {0, 0, 0, 4, fxpWrite, 0, 0, 0},
		"length 0":                  {0, 0, 0, 0, fxpWrite, 0, 0, 0, 9},
		"handle past the end":       cat(u32(9), []byte{fxpWrite}, u32(1), u32(200)),
		"data past the end":         cat(u32(5+4+1+8+4), []byte{fxpWrite}, u32(1), u32(1), []byte("1"), make([]byte, 8), u32(1000)),
		"huge write":                cat(u32(1<<30), []byte{fxpWrite}, u32(1), u32(1), []byte("1")),
		"close, huge handle":        cat(u32(1<<20), []byte{fxpClose}, u32(1), u32(1<<19)),
		"negative offset write":     cat(u32(5+4+1+8+4+1), []byte{fxpWrite}, u32(1), u32(1), []byte("1"), u32(1<<31), u32(0), u32(1), []byte("x")),
		"read without its length":   cat(u32(5+4+1+8), []byte{fxpRead}, u32(1), u32(1), []byte("2"), make([]byte, 8)),
		"read, trailing bytes":      cat(u32(5+4+1+8+4+1), []byte{fxpRead}, u32(1), u32(1), []byte("2"), make([]byte, 8), u32(10), []byte("x")),
		"read, negative offset":     cat(u32(5+4+1+8+4), []byte{fxpRead}, u32(1), u32(1), []byte("2"), u32(1<<31), u32(0), u32(10)),
		"read, handle past the end": cat(u32(5+4+4), []byte{fxpRead}, u32(1), u32(9)),
	} {
		t.Run(name, func(t *testing.T) {
			ch := &streamChannel{recordingChannel: recordingChannel{started: make(chan struct{}), release: make(chan struct{})}, r: bytes.NewReader(stream)}
			close(ch.release)
			srv := &Server{channels: map[*sessionChannel]bool{}}
			sc := srv.newSessionChannel(ch)
			sc.fast = newFastHandles()
			sc.fast.m["1"] = fastHandle{up: &uploadFile{}}     // a known upload handle: must not be written to
			sc.fast.m["2"] = fastHandle{down: &downloadFile{}} // a known download handle: must not be read
			got, err := io.ReadAll(sc)
			if err != nil || !bytes.Equal(got, stream) {
				t.Fatalf("pkg/sftp read %d bytes of %d (%v)", len(got), len(stream), err)
			}
			if n := srv.fastWrites.Load() + srv.fastReads.Load(); n != 0 {
				t.Fatalf("the fast path took %d malformed requests", n)
			}
			sc.end()
		})
	}
}

// A failure inside the fast path (here a broken upload) ends the session's
// read with an error, which ends the session; the process goes on.
func TestFastPathPanicEndsOnlyTheSession(t *testing.T) {
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	write := bytes.Join([][]byte{u32(5 + 4 + 1 + 8 + 4 + 1), {fxpWrite}, u32(1), u32(1), []byte("1"), make([]byte, 8), u32(1), []byte("x")}, nil)
	ch := &streamChannel{recordingChannel: recordingChannel{started: make(chan struct{}), release: make(chan struct{})}, r: bytes.NewReader(write)}
	close(ch.release)
	srv := &Server{channels: map[*sessionChannel]bool{}}
	sc := srv.newSessionChannel(ch)
	sc.fast = newFastHandles()
	sc.fast.m["1"] = fastHandle{up: &uploadFile{}} // broken: its WriteAt panics
	_, err := sc.Read(make([]byte, 4))
	var fp errFastPath
	if !errors.As(err, &fp) {
		t.Fatalf("read after a panic in the fast path: %v", err)
	}
	sc.end()
}

// discardUpload is a storage.Upload that keeps only a count.
type discardUpload struct{ n int64 }

func (u *discardUpload) Write(p []byte) (int, error)  { u.n += int64(len(p)); return len(p), nil }
func (u *discardUpload) Commit(context.Context) error { return nil }
func (u *discardUpload) Abort(context.Context) error  { return nil }
func (u *discardUpload) Written() int64               { return u.n }

// Whatever a client sends, the fast path does not panic, and what it hands
// pkg/sftp and what it writes to the upload together never exceed what was
// sent (nothing is read twice); reads of a download are answered.
func FuzzFastPath(f *testing.F) {
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	write := func(off uint64, data string) []byte {
		body := bytes.Join([][]byte{{fxpWrite}, u32(7), u32(1), []byte("1"), binary.BigEndian.AppendUint64(nil, off), u32(uint32(len(data))), []byte(data)}, nil)
		return append(u32(uint32(len(body))), body...)
	}
	f.Add(write(0, "hello"))
	f.Add(append(write(0, "ab"), write(2, "cd")...))
	f.Add([]byte{0, 0, 0, 1, fxpClose})
	f.Add(append(write(5, "late"), 0, 0, 0, 9, fxpClose, 0, 0, 0, 8, 0, 0, 0, 1, '1'))
	read := func(off uint64, n uint32) []byte {
		body := bytes.Join([][]byte{{fxpRead}, u32(8), u32(1), []byte("2"), binary.BigEndian.AppendUint64(nil, off), u32(n)}, nil)
		return append(u32(uint32(len(body))), body...)
	}
	f.Add(append(read(0, 100), read(60000, 1<<31)...))
	f.Add(append(read(1<<63, 10), write(0, "x")...))
	f.Fuzz(func(t *testing.T, stream []byte) {
		ch := &streamChannel{recordingChannel: recordingChannel{started: make(chan struct{}), release: make(chan struct{})}, r: bytes.NewReader(stream)}
		close(ch.release)
		srv := &Server{channels: map[*sessionChannel]bool{}, metrics: &Metrics{}}
		sc := srv.newSessionChannel(ch)
		sc.fast = newFastHandles()
		h := &handlers{s: srv, log: slog.New(slog.DiscardHandler)}
		up := &discardUpload{}
		sc.fast.m["1"] = fastHandle{up: newUploadFile(h, up, "/f", 0)}
		content := make([]byte, 64<<10) // a download served from memory: the read-ahead holds it all
		sc.fast.m["2"] = fastHandle{down: &downloadFile{h: h, size: int64(len(content)), keep: 1 << 20,
			stream: io.NopCloser(bytes.NewReader(content))}}
		passed, err := io.ReadAll(sc)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(passed))+up.n > int64(len(stream)) {
			t.Fatalf("%d bytes to pkg/sftp and %d to the upload, of %d sent", len(passed), up.n, len(stream))
		}
		sc.end()
		if got, want := sc.replies.Load(), srv.fastReads.Load()+srv.fastWrites.Load(); got != want {
			t.Fatalf("%d replies sent for the %d requests the fast path took", got, want)
		}
	})
}

package sftp

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// sessionChannel is the SSH channel an SFTP session runs on, as the request
// server sees it. It counts the requests read and the replies written (each
// SFTP request gets exactly one reply), so that a draining server closes a
// session only once every request it read was answered; and it lets
// pkg/sftp's last replies and the end of the channel take turns (pkg/sftp may
// still be writing a reply when Serve returns).
//
// Replies are sent in batches, by a goroutine of the channel's own.
// pkg/sftp writes each reply in two calls (its header, then its payload),
// one reply at a time, and the SSH channel sends every call as a packet of
// its own: a MAC and a system call each. Here replies are gathered while
// the previous batch is being sent and go out together: a client with 64
// writes in flight gets their statuses in a few packets instead of 128.
// Nothing waits for a batch to fill: a reply goes out as soon as the sender
// is free.
type sessionChannel struct {
	ssh.Channel
	rd         *bufio.Reader // the channel, read ahead
	fast       *fastHandles  // the session's transfers, for the fast path (nil: none)
	fastWrites *atomic.Int64 // the server's counts of requests the fast path took
	fastReads  *atomic.Int64
	readBuf    []byte // a READ's reply, built by the fast path
	in, out    packetCounter
	requests   atomic.Int64
	replies    atomic.Int64

	mu         sync.Mutex // guards what follows
	ready      sync.Cond  // whole replies wait, or the sender must stop
	between    sync.Cond  // the replies written end on a reply's end
	sent       sync.Cond  // a batch was sent, or the sender stopped
	batch      []byte     // replies waiting (and the header of one whose payload is still to come)
	spare      []byte     // the buffer of the batch last sent, reused
	whole      int        // bytes of batch that end on a reply's end
	writeErr   error      // the channel failed: later writes fail too
	stopping   bool       // the sender sends what is whole, then stops
	senderDone bool
}

// sessionReadAhead is what a session reads from its channel at most at once.
const sessionReadAhead = 128 << 10

// maxBatch bounds the replies waiting while a batch is sent: a client that
// stops reading stalls its session's writers there, as the channel would.
const maxBatch = 64 << 10

func (s *Server) newSessionChannel(ch ssh.Channel) *sessionChannel {
	sc := &sessionChannel{Channel: ch, rd: bufio.NewReaderSize(ch, sessionReadAhead), fastWrites: &s.fastWrites, fastReads: &s.fastReads}
	sc.ready.L, sc.sent.L, sc.between.L = &sc.mu, &sc.mu, &sc.mu
	go sc.sender()
	s.mu.Lock()
	s.channels[sc] = true
	s.mu.Unlock()
	return sc
}

func (s *Server) dropSessionChannel(sc *sessionChannel) {
	s.mu.Lock()
	delete(s.channels, sc)
	s.mu.Unlock()
}

// waitAnswered waits until every session answered the requests it read, or
// ctx ends.
func (s *Server) waitAnswered(ctx context.Context) {
	for {
		pending := false
		s.mu.Lock()
		for sc := range s.channels {
			pending = pending || sc.requests.Load() > sc.replies.Load()
		}
		s.mu.Unlock()
		if !pending {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Read hands pkg/sftp the requests, read from the channel in large chunks:
// pkg/sftp reads each request in two calls (its length, then the rest), and
// each read of the channel may send the client a window adjustment, a
// packet of its own.
//
// Between requests, the WRITEs of uploads and the READs of downloads are
// taken first (fastpath.go).
func (c *sessionChannel) Read(p []byte) (int, error) {
	if c.fast != nil && c.in.atBoundary() {
		if err := c.serveFastSafely(); err != nil {
			return 0, err
		}
	}
	n, err := c.rd.Read(p)

	c.requests.Add(int64(c.in.feed(p[:n])))

	return n, err
}

// Write takes part of a reply, or a whole one, for the sender.
func (c *sessionChannel) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.appendLocked(p, false)
}

// reply queues a whole reply of the channel's own (fastpath.go), between
// two of pkg/sftp's (which writes each in two calls).
func (c *sessionChannel) reply(pkt []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := c.appendLocked(pkt, true)
	return err
}

// appendLocked adds p to the batch once there is room (and, for a reply of
// the channel's own, once the batch ends on a reply's end).
func (c *sessionChannel) appendLocked(p []byte, own bool) (int, error) {
	for c.writeErr == nil && !c.stopping {
		if own && !c.out.atBoundary() {
			c.between.Wait()
		} else if len(c.batch) >= maxBatch {
			c.sent.Wait()
		} else {
			break
		}
	}
	switch {
	case c.stopping:
		return 0, io.ErrClosedPipe
	case c.writeErr != nil:
		return 0, c.writeErr
	}
	c.batch = append(c.batch, p...)
	c.out.feed(p)
	if c.out.atBoundary() {
		c.whole = len(c.batch)
		c.ready.Signal()
		c.between.Broadcast()
	}
	return len(p), nil
}

// sender sends the whole replies as they come, gathered while it was busy.
func (c *sessionChannel) sender() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for c.whole == 0 && !c.stopping {
			c.ready.Wait()
		}
		if c.whole == 0 {
			c.senderDone = true
			c.sent.Broadcast()
			return
		}
		out := c.batch[:c.whole]
		c.batch = append(c.spare[:0], c.batch[c.whole:]...)
		c.whole = 0
		failed := c.writeErr != nil
		c.mu.Unlock()
		var err error
		if !failed {
			_, err = c.Channel.Write(out)
		}
		var pc packetCounter
		replies := pc.feed(out)
		c.mu.Lock()
		c.spare = out[:0]
		c.replies.Add(int64(replies))
		if err != nil && c.writeErr == nil {
			c.writeErr = err
		}
		c.sent.Broadcast()
	}
}

// stop lets the sender send the whole replies written so far, and waits
// for it to end.
func (c *sessionChannel) stop() {
	c.stopping = true
	c.between.Broadcast()
	c.ready.Signal()
	for !c.senderDone {
		c.sent.Wait()
	}
}

func (c *sessionChannel) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stop()
	return c.Channel.Close()
}

// end sends EOF and closes the channel once the replies are sent.
func (c *sessionChannel) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stop()
	c.Channel.CloseWrite()
	c.Channel.Close()
}

// packetCounter counts the SFTP packets (uint32 length, then that many
// bytes) in a stream fed to it in pieces.
type packetCounter struct {
	hdr  [4]byte
	have int    // bytes of the length read so far
	left uint32 // bytes of the current packet still to come
}

// atBoundary tells whether the stream fed so far ends on a packet's end.
func (pc *packetCounter) atBoundary() bool { return pc.have == 0 && pc.left == 0 }

func (pc *packetCounter) feed(p []byte) int {
	packets := 0
	for len(p) > 0 {
		if pc.left == 0 {
			n := copy(pc.hdr[pc.have:], p)
			pc.have += n
			p = p[n:]
			if pc.have == 4 {
				pc.have = 0
				if pc.left = binary.BigEndian.Uint32(pc.hdr[:]); pc.left == 0 {
					packets++
				}
			}
			continue
		}
		n := min(uint32(len(p)), pc.left)
		pc.left -= n
		p = p[n:]
		if pc.left == 0 {
			packets++
		}
	}
	return packets
}

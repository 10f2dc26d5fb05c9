package sftp

import (
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
type sessionChannel struct {
	ssh.Channel
	in, out      packetCounter
	requests     atomic.Int64
	replies      atomic.Int64
	mu           sync.Mutex // orders writes and the end
	ended        bool
	readMu, wrMu sync.Mutex
}

func (s *Server) newSessionChannel(ch ssh.Channel) *sessionChannel {
	sc := &sessionChannel{Channel: ch}
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

func (c *sessionChannel) Read(p []byte) (int, error) {
	n, err := c.Channel.Read(p)

	c.requests.Add(int64(c.in.feed(p[:n])))

	return n, err
}

func (c *sessionChannel) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return 0, io.ErrClosedPipe
	}
	n, err := c.Channel.Write(p)
	c.replies.Add(int64(c.out.feed(p[:n])))
	return n, err
}

func (c *sessionChannel) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended = true
	return c.Channel.Close()
}

// end sends EOF and closes the channel once no reply is being written.
func (c *sessionChannel) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended = true
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

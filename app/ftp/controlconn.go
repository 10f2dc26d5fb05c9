package ftp

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// maxCommandLine is below ftpserverlib's 4096-byte buffer: the library drops
// the client on a longer line, we answer 500 and go on.
const maxCommandLine = 4000

// controlConn wraps an established control connection. It fixes, at the
// protocol's edge, what ftpserverlib does not do the way FTPS clients need:
//   - a command line over maxCommandLine bytes is replaced (500, session kept);
//   - some commands reach the library as stand-ins (commands.go), and some
//     replies are rewritten on their way out (replies.go); error replies are
//     counted;
//   - in explicit TLS the library's own 220 banner is dropped (the listener
//     already sent one before AUTH TLS);
//   - the passive port of each PASV/EPSV reply is given this connection as
//     its owner (sessionreuse.go, dataconn.go);
//   - a transfer counts as running until its final reply is written
//     (afterNextReply), so a draining server does not cut it;
//   - after a failed login the library closes the connection; keepOpenOnce
//     lets the session go on so the user can try again.
type controlConn struct {
	net.Conn
	id controlID // named in the session tickets issued on it

	readMu      sync.Mutex
	raw         [4096]byte
	line        []byte
	ready       []byte
	discarding  bool
	restPending bool         // a REST waits for its transfer (commands.go)
	abors       atomic.Int64 // ABOR commands received: a cut upload is then discarded, not kept (resume.go)
	swallowRest atomic.Int32 // replies to injected "REST 0" lines still to drop
	bindersMu   sync.Mutex
	binders     map[string]struct{} // TLS 1.3 binders its data connections showed (sessionreuse.go)
	systMu      sync.Mutex
	systQueue   []string // what each SYST handed to the library stands for ("": itself)
	since       time.Time
	user        atomic.Pointer[string] // the login, once logged in

	writeMu       sync.Mutex
	swallowBanner bool

	metrics           *Metrics // set when the server registers the connection
	onPassivePort     func(port int)
	onPassiveCommand  func(cmd string) error // a PASV or EPSV arrived; an error answers it instead of the library
	onTransferCommand func()                 // a transfer command arrived (its port is spoken for)
	onFinalReply      func()                 // a final reply was written (a port spoken for and not taken is free again)
	done              chan struct{}          // closed with the connection
	abortMu           sync.Mutex
	aborted           chan struct{} // closed (and replaced) at each ABOR
	passivePace       atomic.Bool   // passive replies are held a moment (pacing.go)
	afterReply        atomic.Pointer[func()]
	replyCode         atomic.Int32 // the code a failed operation's 550 reply must carry
	inMultiline       multiline    // written only under writeMu
	closed            atomic.Bool
	adm               *admission // its place in the connection limits
	keepOpen          atomic.Bool
	closeOnce         sync.Once
}

func newControlConn(c net.Conn, id controlID, swallowBanner bool) *controlConn {
	return &controlConn{Conn: c, id: id, swallowBanner: swallowBanner, since: time.Now(),
		done: make(chan struct{}), aborted: make(chan struct{})}
}

// Read hands the library whole lines only, each at most maxCommandLine bytes.
func (c *controlConn) Read(p []byte) (int, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	for len(c.ready) == 0 {
		n, err := c.Conn.Read(c.raw[:])
		c.feed(c.raw[:n])
		if len(c.ready) > 0 {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	n := copy(p, c.ready)
	c.ready = c.ready[n:]
	return n, nil
}

func (c *controlConn) feed(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		chunk := b
		if i >= 0 {
			chunk = b[:i+1]
		}
		b = b[len(chunk):]
		if !c.discarding {
			c.line = append(c.line, chunk...)
		}
		if len(c.line) > maxCommandLine+2 {
			c.discarding, c.line = true, c.line[:0]
		}
		if i < 0 {
			continue
		}
		if c.discarding {
			c.ready = c.standIn(c.ready, pseudoLineTooLong)
			c.discarding = false
			continue
		}
		c.ready = append(c.ready, c.commandLines(c.line)...)
		c.line = c.line[:0]
	}
}

// Write passes the library's replies on, with the fixes listed above. The
// library writes one reply line per call.
func (c *controlConn) Write(p []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	n := len(p)
	if c.swallowBanner {
		if i := bytes.Index(p, []byte("\r\n")); i >= 0 {
			c.swallowBanner = false
			p = p[i+2:]
			if len(p) == 0 {
				return n, nil
			}
		} else {
			return n, nil
		}
	}
	if c.swallowed(p) {
		return n, nil
	}
	p = c.inMultiline.fix(escapeControls(c.rewriteReply(p)))
	if len(p) == 0 { // a line dropped
		return n, nil
	}
	if isFinalReply(p) {
		p = withCode(p, int(c.replyCode.Swap(0)))
	}
	if port := passivePortOf(p); port > 0 && c.onPassivePort != nil {
		c.paceReply()
		c.onPassivePort(port)
	}
	if isErrorReply(p) && c.metrics != nil {
		c.metrics.ErrorReplies.Add(1)
	}
	if isFinalReply(p) && c.onFinalReply != nil {
		c.onFinalReply() // before the client can answer it with a PASV
	}
	if _, err := c.Conn.Write(p); err != nil {
		return 0, err
	}
	if isFinalReply(p) {
		c.runAfterReplyNow()
	}
	return n, nil
}

// setReplyCode makes the library's 550 reply to the current command carry
// code instead (errors.go).
func (c *controlConn) setReplyCode(code int) { c.replyCode.Store(int32(code)) }

// keepOpenOnce makes the next Close a no-op (see the type's comment).
func (c *controlConn) keepOpenOnce() { c.keepOpen.Store(true) }

// Close closes the connection unless keepOpenOnce asked otherwise.
func (c *controlConn) Close() error {
	if c.keepOpen.Swap(false) {
		return nil
	}
	return c.closeForReal()
}

func (c *controlConn) closeForReal() error {
	var err error
	c.closeOnce.Do(func() { err = c.Conn.Close(); close(c.done) })
	c.closed.Store(true)
	c.adm.release()
	c.runAfterReplyNow()
	return err
}

// abortSignal is closed at the next ABOR.
func (c *controlConn) abortSignal() <-chan struct{} {
	c.abortMu.Lock()
	defer c.abortMu.Unlock()
	return c.aborted
}

// noteAbort wakes what waits for the session's data connection (an ABOR
// arrived).
func (c *controlConn) noteAbort() {
	c.abortMu.Lock()
	close(c.aborted)
	c.aborted = make(chan struct{})
	c.abortMu.Unlock()
}

// afterNextReply runs f once the next final reply (2xx to 5xx) has been
// written, or when the connection closes. A transfer uses it to count as
// running until its client has heard how it ended: a draining server that
// closed the session between a stored upload and its 226 would make the
// client believe the upload failed.
func (c *controlConn) afterNextReply(f func()) {
	c.afterReply.Store(&f)
	if c.closed.Load() {
		c.runAfterReplyNow()
	}
}

func (c *controlConn) runAfterReplyNow() {
	if f := c.afterReply.Swap(nil); f != nil {
		(*f)()
	}
}

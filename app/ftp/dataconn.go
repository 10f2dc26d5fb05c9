package ftp

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Telling a complete upload from a cut one.
//
// An FTP upload ends when the client closes the data connection, so a client
// killed mid-upload looks like a finished one, unless TLS says otherwise: a
// client that is done sends a TLS close_notify alert before closing. Go's
// crypto/tls returns the same io.EOF for a close_notify and for a bare TCP FIN
// at a record boundary, so the check looks below TLS: dataConn wraps the raw
// TCP connection and notes whether the TCP stream itself reached its end.
// After a close_notify, crypto/tls stops reading, so the raw EOF is never
// seen; after a bare FIN it is.
//
// A transfer handle finds its data connection in the connection ftpserverlib
// hands it (io.Copy passes the *tls.Conn to the handle's ReadFrom or
// WriteTo): see dataConnOf.

// dataListener is what WrapPassiveListener returns for a passive port. The
// data connection it returns belongs to the session that opened the port:
// it comes from the control connection's IP address and, unless reuse is
// optional, proves in its TLS ClientHello that its client holds the control
// connection's TLS session (sessionreuse.go).
//
// The port runs its data connection's TLS itself, from the moment its
// passive reply is written (start): the first connection from the
// session's address becomes a dataConn whose TLS handshake runs at once.
// Some clients send their ClientHello right after connecting and wait for
// the answer before they read anything else (curl, which meanwhile reads
// no reply on its control connection: if the handshake waited for the
// transfer, each command in between, TYPE or SIZE, cost it 200 ms); others
// send it only after the 150 reply, which the library sends once Accept has
// returned. So Accept returns the connection as soon as it arrived, its
// handshake running or done, and the transfer's first read or write waits
// for the handshake.
//
// The dataConn chooses its client on the handshake's first read, when
// crypto/tls asks for the ClientHello: it checks the first connection and
// any that arrive after it, at once, and binds to the first that passes;
// the others are closed. A stranger can neither take the transfer nor end
// it: the port keeps waiting for its client.
type dataListener struct {
	net.Listener
	s    *Server
	port int

	// state orders starting the accept loop, handing the connection to a
	// transfer and closing the port: a port closed for not being used
	// cannot start accepting, and a port whose connection a transfer asked
	// for is not closed for not being used.
	state   sync.Mutex
	looping bool // the accept loop runs
	taken   bool // a transfer asked for the connection (Accept)
	failed  bool // and was refused it: a connection still coming is closed
	closed  bool
	dc      *dataConn // the connection, once one arrived
	tc      *tls.Conn // its TLS

	expire   *time.Timer                 // closes a port no transfer used
	cands    chan net.Conn               // connections from the owner's address, not yet checked
	takenC   chan struct{}               // closed when a transfer asks for the connection
	prepared chan struct{}               // closed once tc is set, or no connection will come
	loopDone chan struct{}               // closed when the accept loop ends
	loopErr  error                       // why it ended (set before loopDone closes)
	bound    atomic.Bool                 // a connection was chosen: later ones are closed
	owner    atomic.Pointer[controlConn] // the session the port was announced to (setPortOwner)
	claimed  atomic.Bool                 // a transfer command of the owner was read: not released by its next PASV
	// announced is when the passive reply naming the port was written
	// (Unix nanoseconds; 0 before): see pacing.go.
	announced atomic.Int64
}

// dataConnectTimeout is how long a transfer waits for its client to connect
// (the library's ConnectionTimeout; whole seconds). A variable for the tests.
var dataConnectTimeout = 30 * time.Second

// passiveReservation is how long a passive port waits for its transfer.
const passiveReservation = 30 * time.Second

// maxDataChecks bounds the connections waiting or being checked on one port;
// more are closed at once.
const maxDataChecks = 8

// dataHelloTimeout bounds the wait for the session's client to send its
// ClientHello on a data connection, from when the transfer asked for it
// (before that, the port's reservation bounds it): a client may connect at
// the passive reply and speak only after the 150 reply.
var dataHelloTimeout = 15 * time.Second // a variable for the tests

func newDataListener(s *Server, l net.Listener) *dataListener {
	port := 0
	if a, ok := l.Addr().(*net.TCPAddr); ok {
		port = a.Port
	}
	dl := &dataListener{Listener: l, s: s, port: port,
		cands: make(chan net.Conn, maxDataChecks), takenC: make(chan struct{}), prepared: make(chan struct{}),
		loopDone: make(chan struct{})}
	// A port reserved by PASV/EPSV that no transfer uses is closed soon,
	// so it cannot be held forever (clients send the transfer command
	// right after PASV).
	reservation := min(s.opts.DataIdleTimeout, passiveReservation)
	dl.state.Lock()
	dl.expire = time.AfterFunc(reservation, func() {
		if dl.closeUnused() {
			s.log.Info("closed a passive port no transfer used", "port", port, "after", reservation.String())
		}
	})
	dl.state.Unlock()
	s.portMu.Lock()
	s.listeners[port] = dl
	s.portMu.Unlock()
	return dl
}

// start begins accepting on the port: its passive reply was written.
func (l *dataListener) start() {
	l.state.Lock()
	defer l.state.Unlock()
	l.startLocked()
}

func (l *dataListener) startLocked() {
	if l.looping || l.closed {
		return
	}
	l.looping = true
	go l.acceptLoop()
	go l.prepare()
}

// prepare makes the first connection from the session's address the port's
// dataConn, and runs its TLS handshake (which chooses the client: bind).
// The handshake's error, if any, is what the transfer's first read or
// write returns.
func (l *dataListener) prepare() {
	var c net.Conn
	select {
	case c = <-l.cands:
	case <-l.loopDone:
		select {
		case c = <-l.cands: // accepted just before the end
		default:
			close(l.prepared)
			return
		}
	}
	dc := &dataConn{l: l, first: c, conn: c, closed: make(chan struct{}), idle: l.s.opts.DataIdleTimeout}
	tc := tls.Server(dc, l.s.dataTLS())
	l.state.Lock()
	if l.closed && (!l.taken || l.failed) {
		l.state.Unlock()
		c.Close()
		close(l.prepared)
		return
	}
	l.dc, l.tc = dc, tc
	close(l.prepared)
	l.state.Unlock()
	_ = tc.Handshake()
}

// Accept returns the data connection once a connection from the session's
// address arrived (the library's deadline on the port bounds the wait),
// its TLS handshake running or done. The wait also ends when the session
// ends or sends ABOR. A port whose Accept fails is closed at once: the
// library keeps a failed transfer's port until its next transfer, and a
// client connecting to it late would hang on a socket nobody accepts.
func (l *dataListener) Accept() (net.Conn, error) {
	conn, err := l.accept()
	if err != nil {
		l.state.Lock()
		l.failed = true
		dc := l.dc
		l.state.Unlock()
		l.Close()
		if dc != nil {
			dc.Close()
		}
	}
	return conn, err
}

func (l *dataListener) accept() (net.Conn, error) {
	l.state.Lock()
	if l.closed {
		l.state.Unlock()
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: net.ErrClosed}
	}
	first := !l.taken
	if first {
		l.taken = true
		close(l.takenC)
	}
	l.startLocked() // in case the transfer came before the reply was seen
	l.state.Unlock()
	if at := l.announced.Load(); first && at != 0 {
		l.notePassiveGap(time.Unix(0, at))
	}
	var ended, aborted <-chan struct{}
	if owner := l.ownerConn(); owner != nil {
		ended, aborted = owner.done, owner.abortSignal()
	}
	select {
	case <-l.prepared:
	case <-ended:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: errors.New("the session ended")}
	case <-aborted:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: errors.New("the transfer was aborted")}
	}
	l.state.Lock()
	tc := l.tc
	l.state.Unlock()
	if tc == nil {
		if l.loopErr != nil {
			return nil, l.loopErr
		}
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: net.ErrClosed}
	}
	return tc, nil
}

func (l *dataListener) acceptLoop() {
	defer close(l.loopDone)
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			l.loopErr = err
			return
		}
		owner := l.ownerConn()
		switch {
		case l.bound.Load():
			l.refuse(c, errors.New("the transfer already has its data connection"))
		case owner == nil:
			l.refuse(c, errors.New("no session owns this port"))
		case !hostIP(c.RemoteAddr()).Equal(hostIP(owner.RemoteAddr())):
			l.refuse(c, fmt.Errorf("from another address than its session's control connection (%s)", owner.RemoteAddr()))
		default:
			select {
			case l.cands <- c:
			default:
				l.refuse(c, errors.New("too many connections waiting on this port"))
			}
		}
	}
}

// ownerConn is the live control connection the port was announced to, or
// nil.
func (l *dataListener) ownerConn() *controlConn {
	c := l.owner.Load()
	if c == nil || c.closed.Load() {
		return nil
	}
	return c
}

// closeUnused closes the port if no transfer asked for its connection yet,
// and reports whether it did.
func (l *dataListener) closeUnused() bool {
	l.state.Lock()
	if l.taken || l.closed {
		l.state.Unlock()
		return false
	}
	l.closed = true
	dc := l.dc
	l.state.Unlock()
	l.Listener.Close()
	if dc != nil {
		dc.Close()
	}
	l.forget()
	return true
}

func (l *dataListener) refuse(c net.Conn, why error) {
	l.s.metrics.DataConnsRefused.Add(1)
	l.s.log.Warn("data connection refused", "port", l.port, "client", c.RemoteAddr().String(), "err", why)
	c.Close()
}

// Close closes the port and the connections still waiting on it (the
// transfer that took the connection closes that one).
func (l *dataListener) Close() error {
	l.state.Lock()
	already := l.closed
	l.closed = true
	dc, taken := l.dc, l.taken
	l.state.Unlock()
	err := l.Listener.Close()
	if !already {
		if dc != nil && !taken {
			dc.Close()
		}
		l.forget()
	}
	return err
}

// forget takes the closed port out of the server's records and, if its
// accept loop ran, closes what that loop left waiting once it has ended.
func (l *dataListener) forget() {
	l.state.Lock()
	l.expire.Stop()
	started := l.looping
	l.state.Unlock()
	l.s.portMu.Lock()
	if l.s.listeners[l.port] == l {
		delete(l.s.listeners, l.port)
	}
	l.s.portMu.Unlock()
	if started {
		go func() { // once the loop has ended, close what it left waiting
			<-l.loopDone
			for {
				select {
				case c := <-l.cands:
					c.Close()
				default:
					return
				}
			}
		}()
	}
}

// checked is a candidate connection and what its ClientHello proved.
type checked struct {
	conn  net.Conn
	hello *clientHello
	proof reuseProof
	err   error
}

// check reads a candidate's ClientHello and tells whether it proves it is the
// session's client.
func (l *dataListener) check(c net.Conn, owner *controlConn) checked {
	var mu sync.Mutex
	read := false
	stop := make(chan struct{})
	go func() { // the deadline starts when the transfer asks (dataHelloTimeout)
		select {
		case <-l.takenC:
			mu.Lock()
			if !read {
				_ = c.SetReadDeadline(time.Now().Add(dataHelloTimeout))
			}
			mu.Unlock()
		case <-stop:
		}
	}()
	ch, err := readClientHello(c)
	mu.Lock()
	read = true
	_ = c.SetReadDeadline(time.Time{})
	mu.Unlock()
	close(stop)
	if err != nil {
		return checked{conn: c, err: fmt.Errorf("reading its TLS ClientHello: %w", err)}
	}
	proof := proveReuse(l.s.tlsBase, ch, owner)
	if proof == proofNone && l.s.opts.TLSSessionReuse == ReuseRequired {
		return checked{conn: c, err: errNoReuse}
	}
	return checked{conn: c, hello: ch, proof: proof}
}

// bind chooses the data connection's client (see dataListener): the first
// candidate whose ClientHello passes.
func (c *dataConn) bind() error {
	l := c.l
	owner := l.ownerConn()
	if owner == nil {
		c.first.Close()
		return errors.New("the session that owns this port is gone")
	}
	results := make(chan checked)
	pending := 0
	checking := map[net.Conn]bool{} // candidates whose check has not ended
	start := func(conn net.Conn) {
		pending++
		checking[conn] = true
		go func() { results <- l.check(conn, owner) }()
	}
	start(c.first)
	defer func() {
		// The losers still being checked are closed now (before the
		// transfer asked, their checks have no deadline), the others as
		// their checks end.
		for conn := range checking {
			conn.Close()
		}
		go func(n int) {
			for ; n > 0; n-- {
				(<-results).conn.Close()
			}
		}(pending)
	}()
	var timeout <-chan time.Time // armed when the transfer asks (dataHelloTimeout)
	taken := l.takenC
	var refused error // why the last candidate was refused
	for {
		select {
		case <-taken:
			taken = nil
			t := time.NewTimer(dataHelloTimeout)
			defer t.Stop()
			timeout = t.C
		case conn := <-l.cands:
			if pending >= maxDataChecks {
				l.refuse(conn, errors.New("too many connections being checked on this port"))
				continue
			}
			start(conn)
		case r := <-results:
			pending--
			delete(checking, r.conn)
			if r.err != nil {
				l.refuse(r.conn, r.err)
				refused = r.err
				continue
			}
			l.bound.Store(true)
			c.mu.Lock()
			select {
			case <-c.closed: // closed while choosing (ABOR): the winner goes too
				c.mu.Unlock()
				r.conn.Close()
				return net.ErrClosed
			default:
			}
			c.conn, c.owner, c.proof, c.keyShares = r.conn, owner, r.proof, r.hello.keyShares
			c.r = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(r.hello.raw), rawReader{c}), dataReadAhead)
			if !c.readDeadline.IsZero() {
				_ = r.conn.SetReadDeadline(c.readDeadline)
			}
			c.mu.Unlock()
			return nil
		case <-timeout:
			if errors.Is(refused, errNoReuse) {
				return errNoReuse
			}
			return errors.New("no data connection from the session's client sent a valid TLS ClientHello in time")
		case <-c.closed:
			return net.ErrClosed
		}
	}
}

// dataConnOf finds the dataConn under the connection a transfer was handed,
// or nil (a connection the library wrapped in something else, such as
// MODE Z, which is not offered).
func dataConnOf(x any) *dataConn {
	if tc, ok := x.(*tls.Conn); ok {
		x = tc.NetConn()
	}
	dc, _ := x.(*dataConn)
	return dc
}

// dataReadAhead: the raw connection is read in large chunks, so that TLS
// records (16 KiB at most) come from memory instead of one system call each.
const dataReadAhead = 128 << 10

// dataWriteBatch: TLS application-data records written to a data connection
// are gathered up to this size and sent in one system call, instead of one
// per 16 KiB record (or one per line of a listing).
const dataWriteBatch = 256 << 10

const tlsRecordAppData = 23

type dataConn struct {
	l     *dataListener // nil for a connection bound from the start (tests)
	first net.Conn      // the connection Accept returned

	bindOnce sync.Once
	bindErr  error

	mu           sync.Mutex
	conn         net.Conn // the client's connection, once bound (first until then)
	r            *bufio.Reader
	readDeadline time.Time // set before binding, applied to the chosen connection
	closeOnce    sync.Once
	closed       chan struct{}
	rawEOF       atomic.Bool
	timedOut     atomic.Bool

	idle      time.Duration // the data idle timeout (0: none)
	owner     *controlConn  // the session's control connection
	proof     reuseProof    // what the ClientHello proved
	keyShares []tls.CurveID

	wmu  sync.Mutex
	wbuf []byte
}

// boundDataConn is a dataConn on a connection known to be the client's.
func boundDataConn(c net.Conn) *dataConn {
	dc := &dataConn{conn: c, first: c, closed: make(chan struct{})}
	dc.r = bufio.NewReaderSize(rawReader{dc}, dataReadAhead)
	dc.bindOnce.Do(func() {})
	return dc
}

// writeRaw writes to the client's connection, which must take it within the
// data idle timeout.
func (c *dataConn) writeRaw(p []byte) (int, error) {
	conn := c.raw()
	if c.idle > 0 {
		_ = conn.SetWriteDeadline(time.Now().Add(c.idle))
	}
	n, err := conn.Write(p)
	c.noteTimeout(err)
	return n, err
}

// noteTimeout counts a transfer ended by the data idle timeout.
func (c *dataConn) noteTimeout(err error) {
	var ne net.Error
	if c.l != nil && errors.As(err, &ne) && ne.Timeout() && c.timedOut.CompareAndSwap(false, true) {
		c.l.s.metrics.DataIdleTimeouts.Add(1)
		c.l.s.log.Warn("data connection idle too long: transfer ended", "port", c.l.port, "idle", c.idle.String())
	}
}

func (c *dataConn) raw() net.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn
}

func (c *dataConn) LocalAddr() net.Addr  { return c.raw().LocalAddr() }
func (c *dataConn) RemoteAddr() net.Addr { return c.raw().RemoteAddr() }

func (c *dataConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	return c.raw().SetReadDeadline(t)
}

// Write sends handshake records and alerts at once (the peer waits for
// them) and batches application data; Flush and Close send the batch. FTP
// data flows one way, so no record waits for an answer while batched.
func (c *dataConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(p) == 0 || p[0] != tlsRecordAppData {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		return c.writeRaw(p)
	}
	if len(c.wbuf)+len(p) > dataWriteBatch {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	if len(p) >= dataWriteBatch {
		return c.writeRaw(p)
	}
	if c.wbuf == nil {
		c.wbuf = make([]byte, 0, dataWriteBatch)
	}
	c.wbuf = append(c.wbuf, p...)
	return len(p), nil
}

// SetWriteDeadline and SetDeadline send the batch first: crypto/tls
// writes its close_notify (an application-data record in TLS 1.3) and then
// sets the write deadline to now, after which nothing could be sent.
func (c *dataConn) SetWriteDeadline(t time.Time) error {
	_ = c.Flush()
	return c.raw().SetWriteDeadline(t)
}

func (c *dataConn) SetDeadline(t time.Time) error {
	_ = c.Flush()
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	return c.raw().SetDeadline(t)
}

// Flush sends the batched records.
func (c *dataConn) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.flushLocked()
}

func (c *dataConn) flushLocked() error {
	if len(c.wbuf) == 0 {
		return nil
	}
	_, err := c.writeRaw(c.wbuf)
	c.wbuf = c.wbuf[:0]
	return err
}

// Read chooses the client on the first call (see dataListener).
func (c *dataConn) Read(p []byte) (int, error) {
	c.bindOnce.Do(func() { c.bindErr = c.bind() })
	if c.bindErr != nil {
		return 0, c.bindErr
	}
	return c.r.Read(p)
}

// rawReader reads the TCP connection itself and notes its end.
//
// Each read is acknowledged at once (quickAck). A client's data connection
// otherwise stalls for the delayed-ACK timer, 40 ms per file: under TLS 1.3
// the server sends nothing after the client's Finished (no session tickets,
// see sessionreuse.go), so that Finished goes unacknowledged until the timer
// fires, and the client's Nagle algorithm holds its first data record (less
// than a segment) until it is; the same happens to the last, short segment
// of an upload.
type rawReader struct{ c *dataConn }

func (r rawReader) Read(p []byte) (int, error) {
	conn := r.c.raw()
	if r.c.idle > 0 {
		_ = conn.SetReadDeadline(time.Now().Add(r.c.idle))
	}
	n, err := conn.Read(p)
	if n > 0 {
		quickAck(conn)
	}
	r.c.noteTimeout(err)
	if errors.Is(err, io.EOF) {
		r.c.rawEOF.Store(true)
	}
	return n, err
}

// endedWithoutCloseNotify reports whether the client closed TCP without
// first closing TLS.
func (c *dataConn) endedWithoutCloseNotify() bool { return c.rawEOF.Load() }

// Close sends what is batched, unless a write is stuck (a client that
// stopped reading): then it closes at once, which is what breaks that write
// (ABOR, the end of a session).
func (c *dataConn) Close() error {
	if c.wmu.TryLock() {
		_ = c.flushLocked()
		c.wmu.Unlock()
	}
	c.mu.Lock()
	c.closeOnce.Do(func() { close(c.closed) })
	conn := c.conn
	c.mu.Unlock()
	return conn.Close()
}

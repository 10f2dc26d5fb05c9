package ftp

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

// Listener is the command port's TLS front door. It serves implicit TLS
// (TLS from the first byte, ftps://) and explicit TLS (a plaintext banner,
// then AUTH TLS) on one port: an implicit client speaks first with a TLS
// ClientHello, an explicit client waits for the banner, so a short wait for
// the first byte tells them apart. Before TLS nothing but FEAT, AUTH, NOOP,
// SYST, OPTS and QUIT is answered: there is no plaintext login.
//
// It hands ftpserverlib connections that are already TLS (the library runs
// no TLS of its own), wrapped in a controlConn.
//
// In a burst of connections a client can be slow to send its first byte (a
// hundred clients starting at once on one busy host): the wait for it grows
// by burstStep for each connection from its address still waiting, up to
// detectLate. Counted per address, so that silent connections from
// elsewhere cannot slow everyone's banner.
type Listener struct {
	inner    net.Listener
	tls      func(controlID) *tls.Config
	mode     TLSMode
	detect   time.Duration
	deadline time.Duration
	log      *slog.Logger
	onConn   func(*controlConn)
	admit    func(net.Conn) (*admission, bool) // nil: no limits

	detectLate time.Duration  // the wait for addresses seen late before
	silent     map[string]int // connections waiting for their first byte, by address (under lateMu)
	lateMu     sync.Mutex
	late       map[string]seenAddr // addresses whose implicit clients were late

	conns  chan net.Conn
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// burstStep is what each connection waiting for its first byte adds to the
// wait of a new one (see Listener).
const burstStep = 10 * time.Millisecond

const (
	tlsRecordHandshake = 0x16
	preTLSMaxCommands  = 20
	preTLSMaxLine      = 512
)

func newListener(inner net.Listener, cfg func(controlID) *tls.Config, mode TLSMode, log *slog.Logger,
	admit func(net.Conn) (*admission, bool), onConn func(*controlConn)) *Listener {
	ctx, cancel := context.WithCancel(context.Background())
	l := &Listener{inner: inner, tls: cfg, mode: mode, detect: 300 * time.Millisecond, detectLate: 2 * time.Second,
		late: map[string]seenAddr{}, silent: map[string]int{}, deadline: 30 * time.Second,
		log: log, admit: admit, onConn: onConn, conns: make(chan net.Conn), ctx: ctx, cancel: cancel}
	l.wg.Add(1)
	go l.acceptLoop()
	return l
}

// Accept returns the next client whose TLS session is established.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.ctx.Done():
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: net.ErrClosed}
	}
}

// Close stops accepting; clients being negotiated are dropped.
func (l *Listener) Close() error {
	l.cancel()
	err := l.inner.Close()
	l.wg.Wait()
	return err
}

// Addr is the command port's address.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }

func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	var delay time.Duration
	for {
		c, err := l.inner.Accept()
		if err != nil {
			if l.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.log.Warn("accept failed", "err", err, "retry_in", delay.String())
			time.Sleep(delay)
			continue
		}
		delay = 0
		var adm *admission
		if l.admit != nil {
			ok := false
			if adm, ok = l.admit(c); !ok {
				if l.mode != TLSImplicit {
					_ = c.SetWriteDeadline(time.Now().Add(time.Second))
					_, _ = io.WriteString(c, "421 Too many connections: try again later\r\n")
				}
				c.Close()
				continue
			}
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			if !l.negotiate(c, adm) {
				adm.release()
			}
		}()
	}
}

// negotiate brings one client to an established TLS session, and reports
// whether it got there.
func (l *Listener) negotiate(raw net.Conn, adm *admission) bool {
	log := l.log.With("client", raw.RemoteAddr().String())
	_ = raw.SetDeadline(time.Now().Add(l.deadline))
	br := bufio.NewReaderSize(raw, 1024)
	pc := &peekedConn{Conn: raw, r: br}
	ip := hostIP(raw.RemoteAddr()).String()

	implicit := l.mode == TLSImplicit
	if l.mode == TLSAuto {
		_ = raw.SetReadDeadline(time.Now().Add(l.detectFor(ip)))
		b, err := br.Peek(1)
		l.spoke(ip)
		implicit = err == nil && b[0] == tlsRecordHandshake
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			raw.Close() // gone before saying anything
			return false
		}
		_ = raw.SetDeadline(time.Now().Add(l.deadline))
	}
	if !implicit {
		ok, err := l.preTLS(pc, br)
		if l.mode == TLSAuto && ok {
			l.remember(ip, false)
		}
		if errors.Is(err, errLateClientHello) {
			l.remember(ip, true)
			log.Warn("an implicit TLS client sent its ClientHello after the plaintext banner: it fails this time; its address gets a longer wait from now on",
				"wait", l.detectLate.String())
		}
		if !ok {
			if err != nil {
				log.Debug("client left before TLS", "err", err)
			}
			raw.Close()
			return false
		}
	}
	id := newControlID()
	tc := tls.Server(pc, l.tls(id))
	if err := tc.HandshakeContext(l.ctx); err != nil {
		log.Info("TLS handshake failed", "err", err, "implicit", implicit)
		raw.Close()
		return false
	}
	_ = raw.SetDeadline(time.Time{})
	cc := newControlConn(tc, id, !implicit)
	cc.adm = adm
	l.onConn(cc)
	select {
	case l.conns <- cc:
	case <-l.ctx.Done():
		cc.closeForReal()
	}
	return true
}

// detectFor is how long an auto-mode connection from ip may take to send a
// TLS ClientHello before it gets the plaintext banner: longer for an
// address whose implicit TLS clients were seen late, unless explicit
// clients were seen there too (they would wait for their banner), and
// longer in a burst from ip (see Listener). The connection counts as
// silent until spoke.
func (l *Listener) detectFor(ip string) time.Duration {
	l.lateMu.Lock()
	defer l.lateMu.Unlock()
	waiting := l.silent[ip]
	l.silent[ip]++
	if m, ok := l.late[ip]; ok && time.Since(m.late) < lateMemory && time.Since(m.explicit) > lateMemory {
		return l.detectLate
	}
	return min(l.detect+time.Duration(waiting)*burstStep, l.detectLate)
}

// spoke ends a connection's silence (it sent its first byte, or gave up).
func (l *Listener) spoke(ip string) {
	l.lateMu.Lock()
	defer l.lateMu.Unlock()
	if l.silent[ip]--; l.silent[ip] <= 0 {
		delete(l.silent, ip)
	}
}

// seenAddr is what the listener remembers of an address in auto mode.
type seenAddr struct{ late, explicit time.Time }

// remember records a late implicit client (late) or an explicit one from ip.
func (l *Listener) remember(ip string, late bool) {
	l.lateMu.Lock()
	defer l.lateMu.Unlock()
	m, ok := l.late[ip]
	if !ok && !late {
		return // explicit clients matter only where late ones were seen
	}
	if len(l.late) >= maxLateAddrs && !ok {
		for k, v := range l.late {
			if time.Since(v.late) > lateMemory || len(l.late) >= maxLateAddrs {
				delete(l.late, k)
			}
		}
	}
	if late {
		m.late = time.Now()
	} else {
		m.explicit = time.Now()
	}
	l.late[ip] = m
}

// How late implicit clients are remembered.
const (
	lateMemory   = 24 * time.Hour
	maxLateAddrs = 10_000
)

var errLateClientHello = errors.New("a TLS ClientHello after the plaintext banner")

// preTLS speaks plaintext FTP until the client asks for AUTH TLS.
func (l *Listener) preTLS(w io.Writer, br *bufio.Reader) (bool, error) {
	reply := func(s string) error {
		_, err := io.WriteString(w, s+"\r\n")
		return err
	}
	if err := reply("220 " + banner); err != nil {
		return false, err
	}
	for i := 0; i < preTLSMaxCommands; i++ {
		if i == 0 {
			if b, err := br.Peek(1); err == nil && b[0] == tlsRecordHandshake {
				return false, errLateClientHello
			}
		}
		line, err := readLimitedLine(br, preTLSMaxLine)
		if errors.Is(err, errLineTooLong) {
			if err := reply("500 Command line too long"); err != nil {
				return false, err
			}
			continue
		}
		if err != nil {
			return false, err
		}
		cmd, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch strings.ToUpper(cmd) {
		case "AUTH":
			switch strings.ToUpper(strings.TrimSpace(arg)) {
			case "TLS", "SSL", "TLS-C", "TLS-P":
				return true, reply("234 AUTH command ok; starting TLS")
			}
			err = reply("504 Only AUTH TLS is supported")
		case "FEAT":
			err = reply("211-Features:\r\n AUTH TLS\r\n PBSZ\r\n PROT\r\n UTF8\r\n EPSV\r\n PASV\r\n MLST type*;size*;modify*;\r\n SIZE\r\n MDTM\r\n REST STREAM\r\n211 End")
		case "NOOP":
			err = reply("200 OK")
		case "SYST":
			err = reply("215 UNIX Type: L8")
		case "OPTS":
			err = reply("200 OK")
		case "QUIT":
			_ = reply("221 Goodbye")
			return false, nil
		case "USER", "PASS":
			err = reply("530 This server requires TLS: send AUTH TLS first (or connect with implicit TLS)")
		default:
			err = reply("530 Please send AUTH TLS first")
		}
		if err != nil {
			return false, err
		}
	}
	_ = reply("421 Too many commands without TLS")
	return false, nil
}

var errLineTooLong = errors.New("line too long")

// readLimitedLine reads one line of at most max bytes; a longer line is
// skipped up to its end and reported as errLineTooLong.
func readLimitedLine(br *bufio.Reader, max int) (string, error) {
	var b []byte
	for {
		c, err := br.ReadByte()
		if err != nil {
			return "", err
		}
		if c == '\n' {
			if len(b) > max {
				return "", errLineTooLong
			}
			return strings.TrimRight(string(b), "\r"), nil
		}
		if len(b) <= max {
			b = append(b, c)
		}
	}
}

// peekedConn reads through the buffer that held the peeked byte.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (p *peekedConn) Read(b []byte) (int, error) { return p.r.Read(b) }

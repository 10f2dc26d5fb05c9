package ftp

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// What a data connection's TLS ClientHello says about session resumption,
// read before the TLS handshake runs (see sessionreuse.go). Only the fields
// needed are parsed, from RFC 8446 section 4.1.2 and RFC 5077.
type clientHello struct {
	raw           []byte // the records as read, replayed to crypto/tls
	msg           []byte // the ClientHello handshake message, header included
	tls13         bool   // supported_versions lists TLS 1.3
	sessionTicket []byte // TLS 1.2 session_ticket extension
	pskIdentities [][]byte
	pskBinders    [][]byte
	bindersStart  int // offset in msg where the binders list (its length included) starts
	keyShares     []tls.CurveID
}

const (
	extSessionTicket     = 35
	extPreSharedKey      = 41
	extSupportedVersions = 43
	extKeyShare          = 51
	maxClientHello       = 1 << 16
)

var errNotClientHello = errors.New("not a TLS ClientHello")

// readClientHello reads TLS records from r until a whole ClientHello message
// has arrived (it may span records), and parses it.
func readClientHello(r io.Reader) (*clientHello, error) {
	ch := &clientHello{}
	var hs []byte
	for {
		var hdr [5]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, err
		}
		n := int(binary.BigEndian.Uint16(hdr[3:]))
		if hdr[0] != 22 || n == 0 || n > 1<<14+256 {
			return nil, errNotClientHello
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, err
		}
		ch.raw = append(append(ch.raw, hdr[:]...), body...)
		hs = append(hs, body...)
		if len(hs) >= 4 {
			if hs[0] != 1 {
				return nil, errNotClientHello
			}
			want := 4 + (int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3]))
			if want > maxClientHello {
				return nil, fmt.Errorf("ClientHello of %d bytes", want)
			}
			if len(hs) >= want {
				ch.msg = hs[:want]
				return ch, ch.parse()
			}
		}
		if len(ch.raw) > maxClientHello {
			return nil, errNotClientHello
		}
	}
}

// parse reads the extensions of ch.msg.
func (ch *clientHello) parse() error {
	p := &reader{b: ch.msg, off: 4}
	p.skip(2 + 32)  // legacy_version, random
	p.skip(p.u8())  // legacy_session_id
	p.skip(p.u16()) // cipher_suites
	p.skip(p.u8())  // legacy_compression_methods
	if p.err == nil && p.off == len(p.b) {
		return nil // no extensions
	}
	end := p.u16()
	end += p.off
	for p.err == nil && p.off < end {
		typ := p.u16()
		n := p.u16()
		start := p.off
		known := true
		switch typ {
		case extSessionTicket:
			ch.sessionTicket = p.bytes(n)
		case extSupportedVersions:
			vs := p.u8()
			for vs += p.off; p.err == nil && p.off < vs; {
				if p.u16() == tls.VersionTLS13 {
					ch.tls13 = true
				}
			}
		case extKeyShare:
			ks := p.u16()
			for ks += p.off; p.err == nil && p.off < ks; {
				ch.keyShares = append(ch.keyShares, tls.CurveID(p.u16()))
				p.skip(p.u16())
			}
		case extPreSharedKey: // always the last extension
			ids := p.u16()
			for ids += p.off; p.err == nil && p.off < ids; {
				ch.pskIdentities = append(ch.pskIdentities, p.bytes(p.u16()))
				p.skip(4) // obfuscated_ticket_age
			}
			ch.bindersStart = p.off
			bs := p.u16()
			for bs += p.off; p.err == nil && p.off < bs; {
				ch.pskBinders = append(ch.pskBinders, p.bytes(p.u8()))
			}
		default:
			known = false
			p.skip(n)
		}
		if known && p.err == nil && p.off != start+n {
			p.err = fmt.Errorf("extension %d: bad length", typ)
		}
		p.off = start + n
	}
	if p.err == nil && (p.off != len(p.b) || len(ch.pskIdentities) != len(ch.pskBinders)) {
		p.err = errors.New("malformed extensions")
	}
	if p.err != nil {
		return fmt.Errorf("ClientHello: %w", p.err)
	}
	return nil
}

// reader reads big-endian fields; the first overrun sets err and the rest
// read as zero.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) need(n int) bool {
	if r.err == nil && (n < 0 || r.off+n > len(r.b)) {
		r.err = errors.New("truncated")
	}
	return r.err == nil
}

func (r *reader) u8() int {
	if !r.need(1) {
		return 0
	}
	r.off++
	return int(r.b[r.off-1])
}

func (r *reader) u16() int {
	if !r.need(2) {
		return 0
	}
	r.off += 2
	return int(binary.BigEndian.Uint16(r.b[r.off-2:]))
}

func (r *reader) skip(n int) {
	if r.need(n) {
		r.off += n
	}
}

func (r *reader) bytes(n int) []byte {
	if !r.need(n) {
		return nil
	}
	r.off += n
	return r.b[r.off-n : r.off]
}

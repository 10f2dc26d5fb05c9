package ftp

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"hash"
)

// Binding each data connection to its control connection.
//
// A passive data port is open to anyone who connects first, and checking the
// client's IP address does not tell two clients behind the same NAT apart.
// So, as vsftpd's require_ssl_reuse and AWS Transfer Family do, a data
// connection must prove that its client holds the TLS session of the control
// connection that opened the port:
//
//   - Every session ticket issued on a control connection carries that
//     connection's random id (SessionState.Extra, inside the encrypted ticket,
//     so a client cannot forge it).
//   - Before the TLS handshake of a data connection, its ClientHello is read
//     (dataconn.go) and must offer a ticket of the port's owner:
//     TLS 1.3: a pre_shared_key identity of the owner whose binder verifies
//     with that ticket's key (the binder is an HMAC over the ClientHello keyed
//     by the resumption secret: only the holder of the session can make it);
//     TLS 1.2: a session_ticket of the owner, and the handshake must then
//     resume it (its Finished messages prove the master secret).
//     A connection that offers no such proof is closed and the port keeps
//     waiting for its client, so a stranger cannot take the transfer or end it.
//   - Under TLS 1.3 the data connection then runs a full handshake with no
//     session tickets: accepting the resumption would make crypto/tls send
//     new tickets after the handshake, which an uploading client never reads,
//     and a socket closed with unread data resets and can lose the upload's
//     tail. The binder already proved what resumption would. To stop a
//     replayed ClientHello from being continued by someone else after a
//     HelloRetryRequest, the handshake only accepts the key shares of the
//     ClientHello that was checked.

// SessionReuse says whether data connections must resume the control
// connection's TLS session.
type SessionReuse int

const (
	// ReuseRequired refuses data connections without the proof (default).
	ReuseRequired SessionReuse = iota
	// ReuseOptional accepts them too, for clients that cannot reuse sessions;
	// only the IP address then ties a data connection to its session.
	ReuseOptional
)

// controlID identifies a control connection in its session tickets.
type controlID [16]byte

func newControlID() controlID {
	var id controlID
	rand.Read(id[:])
	return id
}

// ticketTag starts the Extra entry that names a ticket's control connection.
const ticketTag = "ftps3-control/1:"

// markTicket records in a session the control connection it was issued on.
func markTicket(ss *tls.SessionState, id controlID) {
	ss.Extra = append(ss.Extra, append([]byte(ticketTag), id[:]...))
}

// ticketOwner is the control connection a session was issued on.
func ticketOwner(ss *tls.SessionState) (controlID, bool) {
	var id controlID
	if ss == nil {
		return id, false
	}
	for i := len(ss.Extra) - 1; i >= 0; i-- {
		if e := ss.Extra[i]; len(e) == len(ticketTag)+len(id) && bytes.HasPrefix(e, []byte(ticketTag)) {
			copy(id[:], e[len(ticketTag):])
			return id, true
		}
	}
	return id, false
}

// reuseProof is what a data connection's ClientHello proved.
type reuseProof int

const (
	proofNone  reuseProof = iota
	proofTLS13            // a verified binder of the owner's TLS 1.3 ticket
	proofTLS12            // the owner's TLS 1.2 ticket: the handshake must resume it
)

// proveReuse checks a data connection's ClientHello against its owner's
// control connection, with cfg's ticket keys. A TLS 1.3 binder counts once:
// a ClientHello recorded off the wire and sent again proves nothing.
func proveReuse(cfg *tls.Config, ch *clientHello, ownerConn *controlConn) reuseProof {
	owner := ownerConn.id
	for i, identity := range ch.pskIdentities {
		ss, err := cfg.DecryptTicket(identity, tls.ConnectionState{})
		if err != nil || ss == nil {
			continue
		}
		if id, ok := ticketOwner(ss); !ok || id != owner {
			continue
		}
		if binderValid(ss, ch, i) && ownerConn.freshBinder(ch.pskBinders[i]) {
			return proofTLS13
		}
	}
	if ch.sessionTicket != nil {
		ss, err := cfg.DecryptTicket(ch.sessionTicket, tls.ConnectionState{})
		if err == nil && ss != nil {
			if id, ok := ticketOwner(ss); ok && id == owner {
				if v, _, _, ok := sessionSecret(ss); ok && v <= tls.VersionTLS12 {
					return proofTLS12
				}
			}
		}
	}
	return proofNone
}

// binderValid checks the i-th PSK binder of ch (RFC 8446, 4.2.11.2 and 7.1).
func binderValid(ss *tls.SessionState, ch *clientHello, i int) bool {
	version, suite, psk, ok := sessionSecret(ss)
	if !ok || version != tls.VersionTLS13 || i >= len(ch.pskBinders) {
		return false
	}
	var h func() hash.Hash
	switch suite {
	case tls.TLS_AES_128_GCM_SHA256, tls.TLS_CHACHA20_POLY1305_SHA256:
		h = sha256.New
	case tls.TLS_AES_256_GCM_SHA384:
		h = sha512.New384
	default:
		return false
	}
	size := h().Size()
	early, err := hkdf.Extract(h, psk, nil)
	if err != nil {
		return false
	}
	empty := h().Sum(nil)
	binderKey, err := expandLabel(h, early, "res binder", empty, size)
	if err != nil {
		return false
	}
	finishedKey, err := expandLabel(h, binderKey, "finished", nil, size)
	if err != nil {
		return false
	}
	transcript := h()
	transcript.Write(ch.msg[:ch.bindersStart])
	mac := hmac.New(h, finishedKey)
	mac.Write(transcript.Sum(nil))
	return hmac.Equal(mac.Sum(nil), ch.pskBinders[i])
}

// expandLabel is TLS 1.3's HKDF-Expand-Label.
func expandLabel(h func() hash.Hash, secret []byte, label string, context []byte, length int) ([]byte, error) {
	full := "tls13 " + label
	info := make([]byte, 0, 4+len(full)+len(context))
	info = binary.BigEndian.AppendUint16(info, uint16(length))
	info = append(info, byte(len(full)))
	info = append(info, full...)
	info = append(info, byte(len(context)))
	info = append(info, context...)
	return hkdf.Expand(h, secret, string(info), length)
}

// sessionSecret reads the version, cipher suite and secret (the TLS 1.3 PSK,
// or the TLS 1.2 master secret) from a session's encoding, whose layout
// crypto/tls documents on SessionState and extends only at the end.
func sessionSecret(ss *tls.SessionState) (version, suite uint16, secret []byte, ok bool) {
	b, err := ss.Bytes()
	if err != nil || len(b) < 2+1+2+8+1 {
		return 0, 0, nil, false
	}
	version, suite = binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[3:])
	n := int(b[13])
	if n == 0 || len(b) < 14+n {
		return 0, 0, nil, false
	}
	return version, suite, b[14 : 14+n], true
}

// errNoReuse is what a client whose data connections cannot resume is told.
var errNoReuse = errors.New("the data connection did not resume the control connection's TLS session, which this server requires (with TLS 1.2, the client must support session tickets; or use TLS 1.3)")

// maxBinders bounds the binders a control connection remembers.
const maxBinders = 4096

// freshBinder reports whether a data connection of this session showed
// this binder before, and remembers it.
func (c *controlConn) freshBinder(b []byte) bool {
	c.bindersMu.Lock()
	defer c.bindersMu.Unlock()
	if c.binders == nil || len(c.binders) >= maxBinders {
		c.binders = map[string]struct{}{}
	}
	if _, seen := c.binders[string(b)]; seen {
		return false
	}
	c.binders[string(b)] = struct{}{}
	return true
}

package ftp

import (
	"time"
)

// Pacing passive replies for clients that lose a fast one.
//
// curl 7.88 (Debian 12's) has a race in its multi-file transfers: when the
// 229/227 reply to its EPSV/PASV is already there the moment it first looks
// (a fast server on a fast network), it sets up the data connection but does
// not start connecting it, and sleeps until its 1 s poll timeout before it
// goes on. On 127.0.0.1 that hits about one file in five, and uploads of
// many small files crawl at 4 files/s. Seen from the server, the transfer
// command comes about a second after the passive reply, while clients
// otherwise send it at once.
//
// So a session whose transfer command came at least slowPassiveGap after
// the passive reply of its port gets each later passive reply paced: held
// passivePace before it is written, long enough for such a client to be
// waiting for it. Other sessions are never slowed.
const (
	slowPassiveGap = 900 * time.Millisecond
	passivePace    = time.Millisecond
)

// notePassiveGap is called when a transfer first asks for the connection of
// the passive port announced at announced; it turns pacing on for the
// session if the transfer came late.
func (l *dataListener) notePassiveGap(announced time.Time) {
	gap := time.Since(announced)
	if gap < slowPassiveGap {
		return
	}
	owner := l.ownerConn()
	if owner == nil || owner.passivePace.Swap(true) {
		return
	}
	if l.s.metrics != nil {
		l.s.metrics.PacedSessions.Add(1)
	}
	l.s.log.Info("the transfer command came late after the passive reply: this session's next passive replies are paced",
		"client", owner.RemoteAddr().String(), "gap", gap.Round(time.Millisecond).String(), "pace", passivePace.String())
}

// paceReply holds a passive reply of a paced session (see above).
func (c *controlConn) paceReply() {
	if c.passivePace.Load() {
		time.Sleep(passivePace)
	}
}

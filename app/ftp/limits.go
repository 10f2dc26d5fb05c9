package ftp

import (
	"sync"
)

// connLimits caps the control connections: in all, per client address, and
// per address before login. A flood from one address then cannot take the
// file descriptors, memory and CPU that other clients and the health
// endpoints need, and connections that never log in cannot crowd out those
// that do.
type connLimits struct {
	max, perAddr, pendingPerAddr int

	mu     sync.Mutex
	total  int
	byAddr map[string]*addrConns
}

type addrConns struct{ open, pending int }

// Why a connection was refused (the label of ftps3_connections_refused_total).
const (
	refusedServerFull  = "server_full"
	refusedAddressFull = "address_full"
	refusedLoginsQueue = "logins_pending"
)

func newConnLimits(max, perAddr, pendingPerAddr int) *connLimits {
	return &connLimits{max: max, perAddr: perAddr, pendingPerAddr: pendingPerAddr, byAddr: map[string]*addrConns{}}
}

// admission is one admitted connection's place in the counts.
type admission struct {
	l        *connLimits
	addr     string
	once     sync.Once
	loginOne sync.Once
}

// admit counts a new connection from addr, or says why it is refused.
func (l *connLimits) admit(addr string) (*admission, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.byAddr[addr]
	if a == nil {
		a = &addrConns{}
	}
	switch {
	case l.max > 0 && l.total >= l.max:
		return nil, refusedServerFull
	case l.perAddr > 0 && a.open >= l.perAddr:
		return nil, refusedAddressFull
	case l.pendingPerAddr > 0 && a.pending >= l.pendingPerAddr:
		return nil, refusedLoginsQueue
	}
	l.total++
	a.open++
	a.pending++
	l.byAddr[addr] = a
	return &admission{l: l, addr: addr}, ""
}

// loggedIn moves the connection out of its address's pending logins.
func (a *admission) loggedIn() {
	if a == nil {
		return
	}
	a.loginOne.Do(func() {
		a.l.mu.Lock()
		a.l.byAddr[a.addr].pending--
		a.l.mu.Unlock()
	})
}

// release forgets the connection (it closed).
func (a *admission) release() {
	if a == nil {
		return
	}
	a.once.Do(func() {
		loggedIn := true
		a.loginOne.Do(func() { loggedIn = false })
		a.l.mu.Lock()
		defer a.l.mu.Unlock()
		c := a.l.byAddr[a.addr]
		a.l.total--
		c.open--
		if !loggedIn {
			c.pending--
		}
		if c.open == 0 {
			delete(a.l.byAddr, a.addr)
		}
	})
}

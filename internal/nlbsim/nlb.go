package nlbsim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Options configure a simulated load balancer.
type Options struct {
	Plan Plan
	// Front is the address its listeners bind (the load balancer's), e.g.
	// 127.0.0.1.
	Front string
	// Targets are the hosts every target group registers (an Auto Scaling
	// group attached to every group, as in the template), in order.
	Targets []Namespace
	// Second is how long one of the template's seconds lasts here, so that a
	// test goes through health-check intervals faster; 0: a real second.
	// Thresholds (counts of checks) are the template's.
	Second time.Duration
}

// Conn is one client connection the load balancer forwarded.
type Conn struct {
	ListenerPort int
	Target       int // index in Options.Targets; -1: no target (refused)
	Client       net.Addr
	FailOpen     bool // no target was healthy: sent to any, as an NLB does
	Done         bool // both directions closed
}

// TargetHealth is what the load balancer knows of one target in one group.
type TargetHealth struct {
	Healthy bool
	Checks  int // health checks made
	// ChecksSinceChange counts the checks since the state last changed.
	ChecksSinceChange int
	ok, failed        int // consecutive results
}

// NLB is a running simulated load balancer.
type NLB struct {
	opts      Options
	mu        sync.Mutex
	changed   *sync.Cond
	health    map[string][]*TargetHealth // by target group
	conns     []*Conn
	next      map[int]int // round robin per listener
	listeners []net.Listener
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// Start listens on every listener's port and starts the health checks.
func Start(opts Options) (*NLB, error) {
	if opts.Second == 0 {
		opts.Second = time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &NLB{opts: opts, health: map[string][]*TargetHealth{}, next: map[int]int{}, cancel: cancel}
	b.changed = sync.NewCond(&b.mu)
	for _, l := range opts.Plan.Listeners {
		if _, ok := b.health[l.Group]; ok {
			continue
		}
		states := make([]*TargetHealth, len(opts.Targets))
		for i := range states {
			states[i] = &TargetHealth{}
			b.wg.Add(1)
			go b.check(ctx, l, i, states[i])
		}
		b.health[l.Group] = states
	}
	for _, l := range opts.Plan.Listeners {
		ln, err := net.Listen("tcp", net.JoinHostPort(opts.Front, strconv.Itoa(l.Port)))
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("listener %d: %w", l.Port, err)
		}
		b.listeners = append(b.listeners, ln)
		b.wg.Add(1)
		go b.accept(ctx, ln, l)
	}
	return b, nil
}

// Close stops listening and checking; forwarded connections end.
func (b *NLB) Close() {
	b.cancel()
	for _, l := range b.listeners {
		l.Close()
	}
	b.mu.Lock()
	b.changed.Broadcast()
	b.mu.Unlock()
	b.wg.Wait()
}

// View is a consistent snapshot of the load balancer's state.
type View struct {
	Health map[string][]TargetHealth
	Conns  []Conn
}

// Healthy reports whether target is healthy in the group of listener port.
func (v View) Healthy(plan Plan, port, target int) bool {
	l, ok := plan.Listener(port)
	return ok && v.Health[l.Group][target].Healthy
}

func (b *NLB) view() View {
	v := View{Health: map[string][]TargetHealth{}}
	for g, states := range b.health {
		for _, s := range states {
			v.Health[g] = append(v.Health[g], *s)
		}
	}
	for _, c := range b.conns {
		v.Conns = append(v.Conns, *c)
	}
	return v
}

// Snapshot returns the current state.
func (b *NLB) Snapshot() View {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.view()
}

// Wait blocks until cond holds for the state (checked at every change), or
// ctx ends.
func (b *NLB) Wait(ctx context.Context, cond func(View) bool) error {
	stop := context.AfterFunc(ctx, func() {
		b.mu.Lock()
		b.changed.Broadcast()
		b.mu.Unlock()
	})
	defer stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	for !cond(b.view()) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		b.changed.Wait()
	}
	return nil
}

func (b *NLB) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) / float64(time.Second) * float64(b.opts.Second))
}

// check runs one target group's health check of one target, every
// interval, and moves its state after the template's thresholds.
func (b *NLB) check(ctx context.Context, l Listener, target int, s *TargetHealth) {
	defer b.wg.Done()
	tick := time.NewTicker(b.scaled(l.Check.Interval))
	defer tick.Stop()
	for {
		ok := b.probe(ctx, l.Check, b.opts.Targets[target])
		b.mu.Lock()
		s.Checks++
		s.ChecksSinceChange++
		if ok {
			s.ok, s.failed = s.ok+1, 0
			if !s.Healthy && s.ok >= l.Check.Healthy {
				s.Healthy, s.ChecksSinceChange = true, 0
			}
		} else {
			s.ok, s.failed = 0, s.failed+1
			if s.Healthy && s.failed >= l.Check.Unhealthy {
				s.Healthy, s.ChecksSinceChange = false, 0
			}
		}
		b.changed.Broadcast()
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (b *NLB) probe(ctx context.Context, c HealthCheck, ns Namespace) bool {
	ctx, cancel := context.WithTimeout(ctx, b.scaled(c.Timeout))
	defer cancel()
	conn, err := ns.DialContext(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)), nil)
	if err != nil {
		return false
	}
	defer conn.Close()
	if c.Protocol == "TCP" {
		return true
	}
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+conn.RemoteAddr().String()+c.Path, nil)
	if err != nil {
		return false
	}
	req.Header.Set("User-Agent", "ELB-HealthChecker/2.0")
	req.Close = true
	if err := req.Write(conn); err != nil {
		return false
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return codeMatches(c.Codes, resp.StatusCode)
}

func (b *NLB) accept(ctx context.Context, ln net.Listener, l Listener) {
	defer b.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.forward(ctx, c, l)
		}()
	}
}

// pick chooses a healthy target of the listener's group (round robin),
// or any target when none is healthy.
func (b *NLB) pick(l Listener) (target int, failOpen bool) {
	var healthy []int
	for i, s := range b.health[l.Group] {
		if s.Healthy {
			healthy = append(healthy, i)
		}
	}
	if len(healthy) == 0 {
		failOpen = true
		for i := range b.opts.Targets {
			healthy = append(healthy, i)
		}
	}
	n := b.next[l.Port]
	b.next[l.Port] = n + 1
	return healthy[n%len(healthy)], failOpen
}

func (b *NLB) forward(ctx context.Context, client net.Conn, l Listener) {
	defer client.Close()
	b.mu.Lock()
	target, failOpen := b.pick(l)
	rec := &Conn{ListenerPort: l.Port, Target: target, Client: client.RemoteAddr(), FailOpen: failOpen}
	b.conns = append(b.conns, rec)
	b.changed.Broadcast()
	b.mu.Unlock()
	done := func() {
		b.mu.Lock()
		rec.Done = true
		b.changed.Broadcast()
		b.mu.Unlock()
	}
	// The client's address is kept: the target sees the connection come
	// from the client's IP (any port), as with preserve_client_ip.
	var local net.Addr
	if a, ok := client.RemoteAddr().(*net.TCPAddr); ok {
		local = &net.TCPAddr{IP: a.IP}
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	server, err := b.opts.Targets[target].DialContext(dctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(l.TargetPort)), local)
	cancel()
	if err != nil {
		if tc, ok := client.(*net.TCPConn); ok {
			tc.SetLinger(0) // a reset, as the NLB sends when the target refuses
		}
		done()
		return
	}
	defer server.Close()
	stop := context.AfterFunc(ctx, func() { client.Close(); server.Close() })
	defer stop()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pipe(server, client) }()
	go func() { defer wg.Done(); pipe(client, server) }()
	wg.Wait()
	done()
}

// pipe copies src to dst, then half-closes dst: an end of stream passes
// through as an end of stream, a reset as a reset.
func pipe(dst, src net.Conn) {
	_, err := io.Copy(dst, src)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		dst.Close()
		src.Close()
		return
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}

// Tunnel makes addr inside ns reach to in this process's namespace (a
// service such as S3 that the hosts reach through their own network).
func Tunnel(ctx context.Context, ns Namespace, addr, to string) (net.Listener, error) {
	ln, err := ns.Listen(addr)
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s, err := (&net.Dialer{}).DialContext(ctx, "tcp", to)
				if err != nil {
					return
				}
				defer s.Close()
				var wg sync.WaitGroup
				wg.Add(2)
				go func() { defer wg.Done(); pipe(s, c) }()
				go func() { defer wg.Done(); pipe(c, s) }()
				wg.Wait()
			}()
		}
	}()
	return ln, nil
}

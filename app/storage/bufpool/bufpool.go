// Package bufpool hands out upload part buffers under a process-wide memory
// budget, so that many concurrent uploads wait for memory instead of
// exhausting it. Released buffers are kept for reuse while they fit in the
// budget, which keeps the garbage collector out of the upload path; after
// IdleTrim without any Get or Put they are dropped and the memory goes back
// to the operating system.
package bufpool

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// IdleTrim is how long free buffers are kept without upload activity.
const IdleTrim = 30 * time.Second

// ErrTooLarge is returned when one buffer alone exceeds the whole budget.
var ErrTooLarge = errors.New("buffer larger than the memory budget")

// Pool is a budgeted buffer pool. The zero value is not usable; use New.
type Pool struct {
	limit int64

	mu      sync.Mutex
	used    int64            // bytes held by callers plus bytes kept free
	held    int64            // bytes held by callers
	free    map[int][][]byte // released buffers by size
	waiters []chan struct{}  // woken whenever memory is released
	peak    int64

	idle     time.Duration
	lastUse  time.Time
	trimming *time.Timer
}

// New returns a pool that never holds more than limit bytes.
func New(limit int64) *Pool {
	return &Pool{limit: limit, free: make(map[int][][]byte), idle: IdleTrim}
}

// Limit is the budget in bytes.
func (p *Pool) Limit() int64 { return p.limit }

// Stats reports the bytes held by callers, the bytes allocated in all (held
// and kept free), and the highest number of held bytes seen.
func (p *Pool) Stats() (held, allocated, peakHeld int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held, p.used, p.peak
}

// Get returns a buffer of exactly size bytes, waiting until the budget allows
// it or ctx is done.
func (p *Pool) Get(ctx context.Context, size int) ([]byte, error) {
	if int64(size) > p.limit {
		return nil, fmt.Errorf("%w: %d bytes asked, budget %d bytes", ErrTooLarge, size, p.limit)
	}
	for {
		p.mu.Lock()
		p.lastUse = time.Now()
		if buf := p.takeFree(size); buf != nil {
			p.mu.Unlock()
			return buf, nil
		}
		if p.used+int64(size) > p.limit {
			p.dropFree(int64(size))
		}
		if p.used+int64(size) <= p.limit {
			p.used += int64(size)
			p.hold(int64(size))
			p.mu.Unlock()
			return make([]byte, size), nil
		}
		wake := make(chan struct{})
		p.waiters = append(p.waiters, wake)
		p.mu.Unlock()

		select {
		case <-wake:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for upload memory: %w", ctx.Err())
		}
	}
}

// Spare reports whether n more bytes would keep the bytes held by callers
// within a quarter of the budget: room for an upload to go faster than its
// guaranteed share without taking memory others may need.
func (p *Pool) Spare(n int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held+n <= p.limit/4
}

// Put returns a buffer obtained from Get.
func (p *Pool) Put(buf []byte) {
	if buf == nil {
		return
	}
	buf = buf[:cap(buf)]
	p.mu.Lock()
	p.held -= int64(len(buf))
	p.free[len(buf)] = append(p.free[len(buf)], buf)
	p.lastUse = time.Now()
	if p.trimming == nil {
		p.trimming = time.AfterFunc(p.idle, p.trimIdle)
	}
	waiters := p.waiters
	p.waiters = nil
	p.mu.Unlock()
	for _, w := range waiters {
		close(w)
	}
}

// trimIdle drops every free buffer once the pool has been idle long enough.
func (p *Pool) trimIdle() {
	p.mu.Lock()
	if wait := p.idle - time.Since(p.lastUse); wait > 0 {
		p.trimming.Reset(wait)
		p.mu.Unlock()
		return
	}
	p.trimming = nil
	dropped := p.used - p.held
	p.free = make(map[int][][]byte)
	p.used = p.held
	p.mu.Unlock()
	if dropped > 0 {
		debug.FreeOSMemory()
	}
}

func (p *Pool) takeFree(size int) []byte {
	list := p.free[size]
	if len(list) == 0 {
		return nil
	}
	buf := list[len(list)-1]
	p.free[size] = list[:len(list)-1]
	p.hold(int64(size))
	return buf
}

// dropFree forgets free buffers of other sizes until need bytes fit.
func (p *Pool) dropFree(need int64) {
	for size, list := range p.free {
		for len(list) > 0 && p.used+need > p.limit {
			list = list[:len(list)-1]
			p.used -= int64(size)
		}
		p.free[size] = list
	}
}

func (p *Pool) hold(n int64) {
	p.held += n
	if p.held > p.peak {
		p.peak = p.held
	}
}

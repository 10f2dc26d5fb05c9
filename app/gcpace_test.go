package main

import "testing"

// The garbage allowed before the next collection is the live heap that is
// not part buffers, plus the slack: as if the buffers were off the heap.
// Never more permissive than Go's default, never a collection back to back.
func TestGCPacedOnWhatIsNotAPartBuffer(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct{ live, pooled int64 }{
		{270 * mib, 240 * mib}, // 20 uploads' buffers, 30 MiB of the rest
		{600 * mib, 480 * mib},
		{300 * mib, 100 * mib},
	} {
		pct := gcPercent(c.live, c.pooled)
		allowed := c.live * int64(pct) / 100
		want := c.live - c.pooled + gcSlack
		if d := allowed - want; d > c.live/100 || d < -c.live/100 {
			t.Errorf("live %d MiB, %d MiB pooled: GOGC %d lets %d MiB of garbage grow, want %d MiB",
				c.live/mib, c.pooled/mib, pct, allowed/mib, want/mib)
		}
	}
	if pct := gcPercent(50*mib, 10*mib); pct != 100 {
		t.Errorf("a quiet gateway: GOGC %d, want Go's default 100", pct)
	}
	if pct := gcPercent(2000*mib, 2000*mib); pct != gcMinPercent {
		t.Errorf("a heap of buffers only: GOGC %d, want the floor %d", pct, gcMinPercent)
	}
	if pct := gcPercent(0, 0); pct != 100 {
		t.Errorf("before the first collection: GOGC %d, want 100", pct)
	}
}

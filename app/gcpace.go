package main

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/ftps3/ftps3/app/storage/bufpool"
)

// Garbage collection paced on what is not a part buffer.
//
// The part buffers of uploads (bufpool) are live heap, up to the upload
// budget, for as long as the gateway is busy. With Go's default GOGC=100 the
// collector lets garbage grow as large as the whole live heap before it
// runs: 240 MiB of part buffers let 240 MiB of garbage pile up. FTPS makes
// little garbage; x/crypto/ssh allocates every packet it reads (1.2 GB per
// GiB uploaded), and 20 SFTP uploads peaked at 519 MiB of RSS where the same
// FTPS uploads took 276 MiB. paceGC sets the GC percentage so that the
// garbage allowed is the live heap that is not part buffers, plus gcSlack:
// GOGC=100 for the rest of the process, as if the buffers were off the heap.
// Never more than 100, never under gcMinPercent (the collector never runs
// back to back). An operator's GOGC is left alone.

const (
	gcSlack      = 32 << 20
	gcMinPercent = 10
	gcPaceEvery  = 250 * time.Millisecond
)

// gcPercent is the GC percentage for a live heap of live bytes, pooled of
// them part buffers.
func gcPercent(live, pooled int64) int {
	if live <= 0 {
		return 100
	}
	other := max(live-pooled, 0)
	pct := (other + gcSlack) * 100 / live
	return int(min(max(pct, gcMinPercent), 100))
}

// paceGC adjusts the GC percentage to the pool's share of the live heap
// until ctx ends.
func paceGC(ctx context.Context, pool *bufpool.Pool) {
	if os.Getenv("GOGC") != "" {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	tick := time.NewTicker(gcPaceEvery)
	defer tick.Stop()
	last := 100
	for {
		select {
		case <-ctx.Done():
			debug.SetGCPercent(100)
			return
		case <-tick.C:
		}
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return
		}
		_, pooled, _ := pool.Stats()
		if pct := gcPercent(int64(sample[0].Value.Uint64()), pooled); pct != last {
			debug.SetGCPercent(pct)
			last = pct
		}
	}
}

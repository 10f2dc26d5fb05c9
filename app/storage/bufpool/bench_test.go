package bufpool

import (
	"context"
	"testing"
)

// Part buffers are reused, not allocated: Get/Put must cost nothing next to
// the megabytes they carry.
func BenchmarkGetPut(b *testing.B) {
	p := New(64 << 20)
	ctx := context.Background()
	for b.Loop() {
		buf, err := p.Get(ctx, 6<<20)
		if err != nil {
			b.Fatal(err)
		}
		p.Put(buf)
	}
}

func BenchmarkGetPutParallel(b *testing.B) {
	p := New(64 << 20)
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			buf, err := p.Get(ctx, 6<<20)
			if err != nil {
				b.Fatal(err)
			}
			p.Put(buf)
		}
	})
}

package bufpool

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestGetWaitsForBudgetAndReuses(t *testing.T) {
	p := New(10)
	a, err := p.Get(context.Background(), 6)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte)
	go func() {
		b, err := p.Get(context.Background(), 6)
		if err != nil {
			t.Error(err)
		}
		got <- b
	}()
	select {
	case <-got:
		t.Fatal("second buffer handed out beyond the budget")
	case <-time.After(50 * time.Millisecond):
	}
	p.Put(a)
	b := <-got
	if &b[0] != &a[0] {
		t.Error("released buffer was not reused")
	}
	if held, alloc, peak := p.Stats(); held != 6 || alloc != 6 || peak != 6 {
		t.Errorf("stats = held %d alloc %d peak %d, want 6 6 6", held, alloc, peak)
	}
}

func TestGetTooLargeAndCancelled(t *testing.T) {
	p := New(10)
	if _, err := p.Get(context.Background(), 11); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if _, err := p.Get(context.Background(), 10); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := p.Get(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}

func TestFreeBuffersOfOtherSizesAreDropped(t *testing.T) {
	p := New(10)
	a, _ := p.Get(context.Background(), 8)
	p.Put(a)
	if _, err := p.Get(context.Background(), 9); err != nil {
		t.Fatal(err)
	}
	if _, alloc, _ := p.Stats(); alloc != 9 {
		t.Errorf("allocated = %d, want 9", alloc)
	}
}

func TestBudgetHoldsUnderContention(t *testing.T) {
	p := New(100)
	var held, maxHeld atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				b, err := p.Get(context.Background(), 30)
				if err != nil {
					t.Error(err)
					return
				}
				n := held.Add(30)
				for {
					m := maxHeld.Load()
					if n <= m || maxHeld.CompareAndSwap(m, n) {
						break
					}
				}
				held.Add(-30)
				p.Put(b)
			}
		}()
	}
	wg.Wait()
	if maxHeld.Load() > 100 {
		t.Errorf("held %d bytes at once, budget 100", maxHeld.Load())
	}
	if _, _, peak := p.Stats(); peak > 100 || peak < 30 {
		t.Errorf("peak = %d", peak)
	}
}

func TestIdleFreeBuffersAreDropped(t *testing.T) {
	p := New(100)
	p.idle = 20 * time.Millisecond
	a, _ := p.Get(context.Background(), 40)
	b, _ := p.Get(context.Background(), 40)
	p.Put(a)
	time.Sleep(60 * time.Millisecond)
	if held, alloc, _ := p.Stats(); held != 40 || alloc != 40 {
		t.Fatalf("after idle: held %d allocated %d, want 40 40", held, alloc)
	}
	p.Put(b)
	time.Sleep(60 * time.Millisecond)
	if _, alloc, _ := p.Stats(); alloc != 0 {
		t.Fatalf("allocated %d after idle, want 0", alloc)
	}
}

package objfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ftps3/ftps3/app/storage"
	"github.com/ftps3/ftps3/app/storage/digest"
)

// ErrNoChecksum: the file has no recorded checksum of the kind asked for
// (it was stored before checksums were recorded, by another program, or
// with that algorithm off), and reading the file to compute one is off or
// not allowed for its size.
var ErrNoChecksum = errors.New("no checksum of this kind is recorded for this file")

// SumOptions say whether a checksum that was not recorded may be computed
// by reading the whole file.
type SumOptions struct {
	// ComputeMissing allows it, for files up to MaxSize bytes, at most
	// Concurrent at a time in the process (others wait their turn).
	ComputeMissing bool
	MaxSize        int64
	Concurrent     int
}

// SetSumOptions sets how checksum questions are answered (before use).
func (f *FS) SetSumOptions(o SumOptions) {
	if o.Concurrent < 1 {
		o.Concurrent = 1
	}
	f.sumOpts = o
	f.computing = make(chan struct{}, o.Concurrent)
}

// Checksum returns the hex digest of file p with algorithm a: the value
// recorded when it was uploaded (or a whole-file checksum the store keeps),
// at the cost of one or two small requests, never a read of the file unless
// SumOptions allow it. Without one: ErrNoChecksum.
func (v *View) Checksum(ctx context.Context, p string, a digest.Algorithm) (string, error) {
	if err := v.checkPath(p); err != nil {
		return "", pathErr("checksum", p, err)
	}
	var sums digest.Sums
	if summer, ok := v.store().(storage.Summer); ok && Clean(p) != "/" {
		s, err := summer.Sums(ctx, v.key(p))
		switch {
		case errors.Is(err, storage.ErrNotExist):
			return "", pathErr("checksum", p, v.notAFile(ctx, p))
		case err != nil:
			return "", pathErr("checksum", p, err)
		}
		sums = s
	}
	if s, ok := sums[a]; ok {
		return s, nil
	}
	fi, err := v.stat(ctx, p)
	if err != nil {
		return "", pathErr("checksum", p, err)
	}
	if fi.dir {
		return "", pathErr("checksum", p, ErrIsDir)
	}
	o := v.fs.sumOpts
	if !o.ComputeMissing {
		return "", pathErr("checksum", p, fmt.Errorf("%w (%s)", ErrNoChecksum, a.Label()))
	}
	if fi.size > o.MaxSize {
		return "", pathErr("checksum", p, fmt.Errorf("%w (%s), and the file is larger than the %d bytes the gateway reads to compute one", ErrNoChecksum, a.Label(), o.MaxSize))
	}
	return v.compute(ctx, p, a, fi.size)
}

// notAFile explains why there is no object at p: a directory, or nothing.
func (v *View) notAFile(ctx context.Context, p string) error {
	fi, err := v.stat(ctx, p)
	switch {
	case err != nil:
		return err
	case fi.dir:
		return ErrIsDir
	}
	return errors.New("the file changed while its checksum was read")
}

// compute reads the whole file, in turn with the other computations.
func (v *View) compute(ctx context.Context, p string, a digest.Algorithm, size int64) (string, error) {
	select {
	case v.fs.computing <- struct{}{}:
	case <-ctx.Done():
		return "", pathErr("checksum", p, ctx.Err())
	}
	defer func() { <-v.fs.computing }()
	start := time.Now()
	r, err := v.store().Open(ctx, v.key(p), 0)
	if err != nil {
		return "", pathErr("checksum", p, err)
	}
	defer r.Close()
	h := digest.New([]digest.Algorithm{a})
	n, err := io.Copy(h, r)
	if err != nil {
		return "", pathErr("checksum", p, err)
	}
	v.log.Info("checksum computed by reading the file (not recorded at upload)",
		"path", Clean(p), "algorithm", a.Label(), "bytes", n, "size", size, "duration", time.Since(start).Round(time.Millisecond))
	return h.Sums()[a], nil
}

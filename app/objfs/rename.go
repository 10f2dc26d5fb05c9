package objfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/ftps3/ftps3/app/storage"
)

// renameParallelism bounds the copies and deletes of a directory rename.
const renameParallelism = 8

// Rename moves a file or a directory. A file is copied on the server side and
// then deleted; a directory moves every key under it, with bounded
// parallelism, copying everything before deleting anything, so a failure
// leaves the source whole. The target's parent must exist; an existing file
// may be replaced, a directory never.
func (v *View) Rename(ctx context.Context, from, to string) error {
	if v.readOnly {
		return pathErr("rename", from, ErrReadOnly)
	}
	if err := v.checkPath(from); err != nil {
		return pathErr("rename", from, err)
	}
	if err := v.checkNew(to); err != nil {
		return pathErr("rename", to, err)
	}
	from, to = Clean(from), Clean(to)
	if from == "/" || to == "/" {
		return pathErr("rename", from, ErrRoot)
	}
	if from == to {
		return nil
	}
	v.forget()
	src, err := v.stat(ctx, from)
	if err != nil {
		return pathErr("rename", from, err)
	}
	if err := v.needDir(ctx, path.Dir(to)); err != nil {
		return pathErr("rename", to, err)
	}
	dst, err := v.stat(ctx, to)
	switch {
	case err == nil && dst.dir:
		return pathErr("rename", to, fmt.Errorf("%w: a directory", ErrExists))
	case err == nil && src.dir:
		return pathErr("rename", to, fmt.Errorf("%w: a file", ErrExists))
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return pathErr("rename", to, err)
	}
	if !src.dir {
		if err := v.store().Copy(ctx, v.key(from), v.key(to)); err != nil {
			return pathErr("rename", from, err)
		}
		if err := v.store().Delete(ctx, v.key(from)); err != nil {
			return pathErr("rename", from, err)
		}
		v.log.Info("file renamed", "from", from, "to", to)
		return nil
	}
	if strings.HasPrefix(to+"/", from+"/") {
		return pathErr("rename", to, ErrIntoItself)
	}
	n, err := v.renameDir(ctx, from, to)
	if err != nil {
		return pathErr("rename", from, err)
	}
	v.log.Info("directory renamed", "from", from, "to", to, "objects", n)
	return nil
}

func (v *View) renameDir(ctx context.Context, from, to string) (int, error) {
	srcPrefix, dstPrefix := v.prefix(from), v.prefix(to)
	var keys []string
	err := v.store().List(ctx, srcPrefix, storage.ListOptions{Recursive: true}, func(o storage.Object) error {
		keys = append(keys, o.Key)
		return nil
	})
	if err != nil {
		return 0, err
	}
	oldMarker, newMarker := v.marker(from), v.marker(to)
	if !slices.Contains(keys, oldMarker) {
		if _, err := v.store().Stat(ctx, oldMarker); err == nil {
			keys = append(keys, oldMarker)
		}
	}
	target := func(k string) string {
		if k == oldMarker {
			return newMarker
		}
		return dstPrefix + strings.TrimPrefix(k, srcPrefix)
	}
	if err := parallel(ctx, keys, func(ctx context.Context, k string) error {
		return v.store().Copy(ctx, k, target(k))
	}); err != nil {
		return 0, err
	}
	if _, err := v.store().Stat(ctx, newMarker); errors.Is(err, storage.ErrNotExist) {
		if err := v.putMarker(ctx, to); err != nil {
			return 0, err
		}
	}
	if err := parallel(ctx, keys, func(ctx context.Context, k string) error {
		return v.store().Delete(ctx, k)
	}); err != nil {
		return 0, err
	}
	return len(keys), nil
}

// parallel runs fn over keys with at most renameParallelism at once and
// returns the first error.
func parallel(parent context.Context, keys []string, fn func(context.Context, string) error) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	sem := make(chan struct{}, renameParallelism)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for _, k := range keys {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(k string) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(ctx, k); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}(k)
	}
	wg.Wait()
	if first == nil {
		first = parent.Err() // stopped early: not every key was done
	}
	return first
}

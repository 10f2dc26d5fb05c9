package sftp

import (
	"context"
	"errors"
	"io"
	"iter"
	"os"

	"github.com/ftps3/ftps3/app/objfs"
)

// Directory listings. READDIR returns a page at a time: dirLister pulls
// entries from the view's streaming listing (objfs.ListDir) only as the
// client asks for them, so no whole listing is held in memory, and the
// store is read page by page as the client reads on.

var errStopListing = errors.New("listing closed")

// dirLister is the sftp.ListerAt of one directory handle. pkg/sftp calls
// ListAt with increasing offsets (one READDIR after another), from one
// goroutine at a time.
type dirLister struct {
	next   func() (objfs.FileInfo, error, bool)
	stop   func()
	cancel context.CancelFunc
	offset int64
	done   bool
}

func newDirLister(view *objfs.View, p string) *dirLister {
	ctx, cancel := context.WithCancel(context.Background())
	seq := func(yield func(objfs.FileInfo, error) bool) {
		err := view.ListDir(ctx, p, func(fi objfs.FileInfo) error {
			if !yield(fi, nil) {
				return errStopListing
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopListing) {
			yield(objfs.FileInfo{}, err)
		}
	}
	next, stop := iter.Pull2(iter.Seq2[objfs.FileInfo, error](seq))
	return &dirLister{next: next, stop: stop, cancel: cancel}
}

// ListAt fills ls with the entries from offset on. The listing is a stream:
// offsets other than where the last page ended are not supported (pkg/sftp
// never asks for them).
func (l *dirLister) ListAt(ls []os.FileInfo, offset int64) (int, error) {
	if offset != l.offset {
		return 0, errors.New("directory listings are read in order")
	}
	if l.done {
		return 0, io.EOF
	}
	n := 0
	for n < len(ls) {
		fi, err, ok := l.next()
		if !ok {
			l.done = true
			break
		}
		if err != nil {
			l.done = true
			return n, status(err)
		}
		ls[n] = fi
		n++
	}
	l.offset += int64(n)
	if l.done {
		return n, io.EOF
	}
	return n, nil
}

// Close stops the listing (pkg/sftp calls it at CLOSE or when the
// connection ends).
func (l *dirLister) Close() error {
	l.cancel()
	l.stop()
	return nil
}

// listerOf serves a STAT: one entry.
type listerOf []os.FileInfo

func (l listerOf) ListAt(ls []os.FileInfo, offset int64) (int, error) {
	if offset >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(ls, l[offset:])
	if n < len(ls) {
		return n, io.EOF
	}
	return n, nil
}

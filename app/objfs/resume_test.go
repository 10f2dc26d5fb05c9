package objfs_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/ftps3/ftps3/app/objfs"
	"github.com/ftps3/ftps3/app/storage"
	"github.com/ftps3/ftps3/app/storage/bufpool"
	"github.com/ftps3/ftps3/app/storage/filestore"
	"github.com/ftps3/ftps3/app/storage/s3store"
	"github.com/ftps3/ftps3/internal/testenv"
)

func resumableFS(t *testing.T) *objfs.FS {
	t.Helper()
	m := testenv.SharedMinIO(t)
	s, err := s3store.New(m.Client(t), s3store.Options{Bucket: m.NewBucket(t), Pool: bufpool.New(64 << 20),
		PartSize: s3store.MinPartSize, ResumeWindow: time.Hour})
	must(t, err)
	t.Cleanup(func() { s.Close(context.Background()) })
	return objfs.New(s, "/")
}

func readAll(t *testing.T, v *objfs.View, p string) []byte {
	t.Helper()
	r, _, err := v.Open(ctx, p, 0)
	must(t, err)
	defer r.Close()
	b, _ := io.ReadAll(r)
	return b
}

// A cut upload is the newest write of its name for whoever may write
// there, invisible to everyone else, and continues only where it stopped.
func TestPendingUploadThroughTheView(t *testing.T) {
	f := resumableFS(t)
	v, ro := f.View("", false, nil), f.View("", true, nil)
	data := make([]byte, 2*s3store.MinPartSize+99)
	rand.Read(data)
	put(t, v, "/f", "old content")
	u, err := v.Create(ctx, "/f")
	must(t, err)
	_, err = u.Write(data[:s3store.MinPartSize+5])
	must(t, err)
	must(t, u.(storage.SuspendableUpload).Suspend(ctx))

	if off, ok, err := v.Pending(ctx, "/f"); err != nil || !ok || off != s3store.MinPartSize {
		t.Fatalf("pending: %d %v %v", off, ok, err)
	}
	if _, ok, _ := ro.Pending(ctx, "/f"); ok {
		t.Fatal("a read-only view sees the pending upload")
	}
	if got := readAll(t, v, "/f"); string(got) != "old content" {
		t.Fatalf("the old file reads %q while an upload is pending", got)
	}
	entries, err := v.ReadDir(ctx, "/")
	must(t, err)
	for _, e := range entries {
		if e.Name() != "f" {
			t.Errorf("listing shows %q", e.Name())
		}
	}
	for _, p := range []string{"/.ftps3", "/.ftps3/pending/f", "/../.ftps3/x"} {
		if _, err := v.Stat(ctx, p); !errors.Is(err, objfs.ErrInvalidName) {
			t.Errorf("stat %s: %v, want the reserved prefix refused", p, err)
		}
	}

	_, err = v.Resume(ctx, "/f", 10)
	mustFail(t, err, objfs.ErrBadOffset)
	_, err = ro.Resume(ctx, "/f", s3store.MinPartSize)
	mustFail(t, err, objfs.ErrReadOnly)
	// APPE (curl -C -) on a pending upload resumes it.
	u, off, err := v.Append(ctx, "/f")
	must(t, err)
	if off != s3store.MinPartSize {
		t.Fatalf("append starts at %d", off)
	}
	_, err = u.Write(data[off:])
	must(t, err)
	must(t, u.Commit(ctx))
	if !bytes.Equal(readAll(t, v, "/f"), data) {
		t.Fatal("resumed file differs")
	}
	if _, ok, _ := v.Pending(ctx, "/f"); ok {
		t.Fatal("still pending after the commit")
	}
	_, err = v.Resume(ctx, "/f", off)
	mustFail(t, err, objfs.ErrBadOffset) // nothing to resume any more
}

// APPE onto a stored file: the new file is the old one plus the new bytes,
// replaced at commit, on both stores.
func TestAppendToAFile(t *testing.T) {
	for name, fsys := range map[string]func(t *testing.T) *objfs.FS{
		"s3": resumableFS,
		"file": func(t *testing.T) *objfs.FS {
			s, err := filestore.New(t.TempDir())
			must(t, err)
			return objfs.New(s, "/")
		},
	} {
		t.Run(name, func(t *testing.T) {
			v := fsys(t).View("", false, nil)
			put(t, v, "/log.txt", "line 1\n")
			u, off, err := v.Append(ctx, "/log.txt")
			must(t, err)
			if off != 7 {
				t.Fatalf("append starts at %d, want 7", off)
			}
			if got := readAll(t, v, "/log.txt"); string(got) != "line 1\n" {
				t.Fatalf("visible before commit: %q", got)
			}
			_, err = u.Write([]byte("line 2\n"))
			must(t, err)
			must(t, u.Commit(context.Background()))
			if got := readAll(t, v, "/log.txt"); string(got) != "line 1\nline 2\n" {
				t.Fatalf("after append: %q", got)
			}
			// An append cut while (or after) the stored file is copied
			// into it is never kept: a later append would lose the tail.
			u, _, err = v.Append(ctx, "/log.txt")
			must(t, err)
			_, err = u.Write(make([]byte, 2*s3store.MinPartSize))
			must(t, err)
			must(t, u.(storage.SuspendableUpload).Suspend(ctx))
			if off, ok, _ := v.Pending(ctx, "/log.txt"); ok {
				t.Fatalf("a cut append was kept at %d", off)
			}
			u, off, err = v.Append(ctx, "/new.txt")
			must(t, err)
			if off != 0 {
				t.Fatalf("append to nothing starts at %d", off)
			}
			must(t, u.Abort(ctx))
		})
	}
}

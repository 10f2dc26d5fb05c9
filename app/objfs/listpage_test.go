package objfs_test

import (
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/ftps3/ftps3/app/objfs"
	"github.com/ftps3/ftps3/app/storage"
	"github.com/ftps3/ftps3/app/storage/bufpool"
	"github.com/ftps3/ftps3/app/storage/filestore"
	"github.com/ftps3/ftps3/app/storage/s3store"
	"github.com/ftps3/ftps3/internal/testenv"
)

// ListDir (the streaming listing SFTP pages through) shows what ReadDir
// shows, on both stores and with every kind of marker suffix, and stops
// when its callback says so.
func TestListDirMatchesReadDir(t *testing.T) {
	stores := map[string]func(t *testing.T) storage.Store{
		"file": func(t *testing.T) storage.Store {
			s, err := filestore.New(t.TempDir())
			must(t, err)
			return s
		},
		"s3": func(t *testing.T) storage.Store {
			m := testenv.SharedMinIO(t)
			s, err := s3store.New(m.Client(t), s3store.Options{Bucket: m.NewBucket(t), Pool: bufpool.New(64 << 20), PartSize: s3store.MinPartSize})
			must(t, err)
			return s
		},
	}
	for name, newStore := range stores {
		for _, suffix := range []string{"/", "/.s3keep", ".dir"} {
			if name == "file" && suffix == ".dir" {
				continue // the local store keeps directories as directories
			}
			t.Run(name+suffix, func(t *testing.T) {
				s := newStore(t)
				v := objfs.New(s, suffix).View("", false, nil)
				must(t, v.Mkdir(ctx, "d"))
				must(t, v.Mkdir(ctx, "d/marked"))
				put(t, v, "d/marked/inner.txt", "x")
				storePut(t, s, "d/implicit/deep/file.txt", "x") // a directory only through its keys
				put(t, v, "d/a.txt", "a")
				put(t, v, "d/z.txt", "zz")
				var got []string
				must(t, v.ListDir(ctx, "d", func(fi objfs.FileInfo) error {
					got = append(got, describe(fi))
					return nil
				}))
				all, err := v.ReadDir(ctx, "d")
				must(t, err)
				var want []string
				for _, fi := range all {
					want = append(want, describe(fi))
				}
				sort.Strings(got)
				sort.Strings(want)
				if strings.Join(got, " ") != strings.Join(want, " ") {
					t.Errorf("ListDir %v, ReadDir %v", got, want)
				}
				stop := errors.New("stop")
				n := 0
				err = v.ListDir(ctx, "d", func(objfs.FileInfo) error { n++; return stop })
				if !errors.Is(err, stop) || n != 1 {
					t.Errorf("a stopped listing: %v after %d entries", err, n)
				}
			})
		}
	}
}

func describe(fi objfs.FileInfo) string {
	if fi.IsDir() {
		return fi.Name() + "/"
	}
	return fi.Name() + ":" + strings.Repeat("#", int(fi.Size()))
}

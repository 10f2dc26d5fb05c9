package objfs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/ftps3/ftps3/app/objfs"
	"github.com/ftps3/ftps3/app/storage"
	"github.com/ftps3/ftps3/app/storage/bufpool"
	"github.com/ftps3/ftps3/app/storage/filestore"
	"github.com/ftps3/ftps3/app/storage/s3store"
	"github.com/ftps3/ftps3/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// The view's rules hold the same on every store and with either kind of
// directory marker: this is what makes FTPS and SFTP behave alike.
func TestConformance(t *testing.T) {
	stores := map[string]func(t *testing.T) storage.Store{
		"file": func(t *testing.T) storage.Store {
			s, err := filestore.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"s3": func(t *testing.T) storage.Store {
			m := testenv.SharedMinIO(t)
			s, err := s3store.New(m.Client(t), s3store.Options{Bucket: m.NewBucket(t), Pool: bufpool.New(64 << 20), PartSize: s3store.MinPartSize})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close(context.Background()) })
			return s
		},
	}
	for name, newStore := range stores {
		for _, suffix := range []string{"/", "/.s3keep"} {
			t.Run(name+suffix, func(t *testing.T) {
				runSuite(t, func(t *testing.T) (*objfs.FS, storage.Store) {
					s := newStore(t)
					return objfs.New(s, suffix), s
				}, suffix)
			})
		}
	}
}

var ctx = context.Background()

func runSuite(t *testing.T, newFS func(t *testing.T) (*objfs.FS, storage.Store), suffix string) {
	// The checks before an upload ask the store in one listing and a view
	// remembers the directories it just saw (known.go): the rules stay.
	t.Run("upload checks with what the session knows", func(t *testing.T) {
		f, s := newFS(t)
		v := f.View("", false, nil)
		must(t, v.Mkdir(ctx, "/d"))
		put(t, v, "/d/a", "a")
		put(t, v, "/d/b", "b") // the parent is known now
		must(t, v.Remove(ctx, "/d/a"))
		must(t, v.Remove(ctx, "/d/b"))
		must(t, v.RemoveDir(ctx, "/d"))
		_, err := v.Create(ctx, "/d/c") // the view removed it: it knows
		mustFail(t, err, objfs.ErrNoParent)

		// A file and a directory of the same name (S3): the file wins, as
		// in Stat.
		storePut(t, s, "g", "file")
		if _, isDir := s.(*filestore.Store); !isDir { // a directory cannot hold both
			storePut(t, s, "g/h", "under")
		}
		_, err = v.Create(ctx, "/g/new")
		mustFail(t, err, objfs.ErrNotDir)

		// Many names that sort between "x" and "x/": the listing of "x"
		// is too crowded to tell, and the view asks as Stat does.
		for i := 0; i < 120; i++ {
			storePut(t, s, fmt.Sprintf("x.%03d", i), "n")
		}
		must(t, v.Mkdir(ctx, "/x"))
		other := f.View("", false, nil) // knows nothing yet
		_, err = other.Create(ctx, "/x")
		mustFail(t, err, objfs.ErrIsDir)
		mustFail(t, other.Mkdir(ctx, "/x"), objfs.ErrExists)
		put(t, other, "/x/in", "in")
		_, err = other.Create(ctx, "/x.050/y")
		mustFail(t, err, objfs.ErrNotDir)
		put(t, other, "/x.200", "new name among many")
	})

	t.Run("files and directories", func(t *testing.T) {
		f, _ := newFS(t)
		v := f.View("", false, nil)
		if fi, err := v.Stat(ctx, "/"); err != nil || !fi.IsDir() {
			t.Fatalf("root: %v %v", fi, err)
		}
		mustFail(t, v.Mkdir(ctx, "/a/b"), objfs.ErrNoParent)
		_, err := v.Create(ctx, "/a/x.txt")
		mustFail(t, err, objfs.ErrNoParent)
		must(t, v.Mkdir(ctx, "/a"))
		mustFail(t, v.Mkdir(ctx, "/a"), objfs.ErrExists)
		put(t, v, "/a/x.txt", "hello")
		mustFail(t, v.Mkdir(ctx, "/a/x.txt"), objfs.ErrExists)
		must(t, v.Mkdir(ctx, "a/sub")) // relative paths are rooted
		put(t, v, "/a/sub/deep.bin", "deep")
		if got := names(t, v, "/a"); got != "sub/ x.txt" {
			t.Errorf("list /a = %q", got)
		}
		if got := names(t, v, "/"); got != "a/" {
			t.Errorf("list / = %q (the marker must not show)", got)
		}
		fi, err := v.Stat(ctx, "/a/x.txt")
		if err != nil || fi.IsDir() || fi.Size() != 5 || fi.Name() != "x.txt" {
			t.Errorf("stat file: %+v %v", fi, err)
		}
		if got := names(t, v, "/a/x.txt"); got != "x.txt" {
			t.Errorf("listing a file lists the file: %q", got)
		}
		_, err = v.ReadDir(ctx, "/nothing")
		mustFail(t, err, fs.ErrNotExist)
		_, err = v.Create(ctx, "/a/sub")
		mustFail(t, err, objfs.ErrIsDir)
		_, err = v.Create(ctx, "/")
		mustFail(t, err, objfs.ErrIsDir)
		_, err = v.Create(ctx, "/a/x.txt/y")
		mustFail(t, err, objfs.ErrNotDir)
		if got := read(t, v, "/a/x.txt", 1); got != "ello" {
			t.Errorf("read from offset 1: %q", got)
		}
		_, _, err = v.Open(ctx, "/a/x.txt", 6)
		if err == nil {
			t.Error("an offset past the end was accepted")
		}
		_, _, err = v.Open(ctx, "/a", 0)
		mustFail(t, err, objfs.ErrIsDir)
	})

	t.Run("an aborted upload leaves the previous file", func(t *testing.T) {
		f, _ := newFS(t)
		v := f.View("", false, nil)
		put(t, v, "/f", "version 1")
		u, err := v.Create(ctx, "/f")
		must(t, err)
		u.Write([]byte("version 2, cut short"))
		must(t, u.Abort(ctx))
		if got := read(t, v, "/f", 0); got != "version 1" {
			t.Errorf("after abort: %q", got)
		}
	})

	t.Run("directories that exist only through their keys", func(t *testing.T) {
		f, s := newFS(t)
		v := f.View("", false, nil)
		storePut(t, s, "in/2026/data.csv", "1,2")
		if fi, err := v.Stat(ctx, "/in/2026"); err != nil || !fi.IsDir() {
			t.Fatalf("implicit directory: %v %v", fi, err)
		}
		if got := names(t, v, "/in"); got != "2026/" {
			t.Errorf("list /in = %q", got)
		}
		put(t, v, "/in/2026/more.csv", "3") // an implicit directory takes uploads
		must(t, v.Remove(ctx, "/in/2026/data.csv"))
		must(t, v.Remove(ctx, "/in/2026/more.csv"))
		if _, err := v.Stat(ctx, "/in"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("an implicit directory outlived its last key: %v", err)
		}
	})

	t.Run("remove and rmdir", func(t *testing.T) {
		f, _ := newFS(t)
		v := f.View("", false, nil)
		must(t, v.Mkdir(ctx, "/d"))
		put(t, v, "/d/f", "x")
		mustFail(t, v.Remove(ctx, "/d"), objfs.ErrIsDir)
		mustFail(t, v.RemoveDir(ctx, "/d"), objfs.ErrNotEmpty)
		mustFail(t, v.RemoveDir(ctx, "/d/f"), objfs.ErrNotDir)
		mustFail(t, v.RemoveDir(ctx, "/"), objfs.ErrRoot)
		mustFail(t, v.Remove(ctx, "/d/nothing"), fs.ErrNotExist)
		must(t, v.Remove(ctx, "/d/f"))
		must(t, v.RemoveDir(ctx, "/d"))
		if _, err := v.Stat(ctx, "/d"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("removed directory still there: %v", err)
		}
		if got := names(t, v, "/"); got != "" {
			t.Errorf("root after removing everything: %q", got)
		}
	})

	t.Run("rename", func(t *testing.T) {
		f, s := newFS(t)
		v := f.View("", false, nil)
		put(t, v, "/a.txt", "A")
		put(t, v, "/b.txt", "B")
		must(t, v.Rename(ctx, "/a.txt", "/b.txt")) // a file may be replaced
		if got := read(t, v, "/b.txt", 0); got != "A" {
			t.Errorf("renamed over: %q", got)
		}
		mustFail(t, v.Rename(ctx, "/a.txt", "/c.txt"), fs.ErrNotExist)
		must(t, v.Mkdir(ctx, "/src"))
		must(t, v.Mkdir(ctx, "/src/empty"))
		must(t, v.Mkdir(ctx, "/src/sub"))
		put(t, v, "/src/sub/f1", "one")
		put(t, v, "/src/f2", "two")
		storePut(t, s, "src/implicit/f3", "three")
		mustFail(t, v.Rename(ctx, "/b.txt", "/src"), objfs.ErrExists)
		mustFail(t, v.Rename(ctx, "/src", "/b.txt"), objfs.ErrExists)
		mustFail(t, v.Rename(ctx, "/src", "/src/sub/inside"), objfs.ErrIntoItself)
		mustFail(t, v.Rename(ctx, "/b.txt", "/no/where"), objfs.ErrNoParent)
		mustFail(t, v.Rename(ctx, "/", "/x"), objfs.ErrRoot)
		must(t, v.Rename(ctx, "/src", "/dst"))
		if _, err := v.Stat(ctx, "/src"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the source directory is still there: %v", err)
		}
		if got := names(t, v, "/dst"); got != "empty/ f2 implicit/ sub/" {
			t.Errorf("list /dst = %q", got)
		}
		if got := read(t, v, "/dst/sub/f1", 0) + read(t, v, "/dst/implicit/f3", 0); got != "onethree" {
			t.Errorf("moved content: %q", got)
		}
		if got := names(t, v, "/"); got != "b.txt dst/" {
			t.Errorf("list / = %q", got)
		}
	})

	t.Run("home confinement", func(t *testing.T) {
		f, s := newFS(t)
		storePut(t, s, "secret.txt", "not yours")
		storePut(t, s, "users/al/"+strings.TrimPrefix(suffix, "/"), "") // al's home exists
		al := f.View("users/al/", false, nil)
		put(t, al, "/../../x.txt", "mine")
		if got := readKey(t, s, "users/al/x.txt"); got != "mine" {
			t.Errorf("upload through ../..: %q", got)
		}
		if _, err := al.Stat(ctx, "/../secret.txt"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a key outside the home is visible: %v", err)
		}
		if got := names(t, al, "/.."); got != "x.txt" {
			t.Errorf("list of /.. = %q", got)
		}
	})

	t.Run("names", func(t *testing.T) {
		f, s := newFS(t)
		v := f.View("", false, nil)
		must(t, v.Mkdir(ctx, "/d"))
		for _, bad := range []string{"/d/a\r\nb", "/d/nul\x00", "/d/\xff\xfe.bin", "/d/" + strings.Repeat("n", 1100)} {
			_, err := v.Create(ctx, bad)
			mustFail(t, err, objfs.ErrInvalidName)
			mustFail(t, v.Mkdir(ctx, bad), objfs.ErrInvalidName)
		}
		put(t, v, "/d/ok.txt", "fine")
		mustFail(t, v.Rename(ctx, "/d/ok.txt", "/d/x\ny"), objfs.ErrInvalidName)
		_, err := v.Stat(ctx, "/d\r")
		mustFail(t, err, objfs.ErrInvalidName)
		if suffix != "/" {
			marker := strings.TrimPrefix(suffix, "/")
			_, err := v.Create(ctx, "/d/"+marker)
			mustFail(t, err, objfs.ErrInvalidName)
			mustFail(t, v.Rename(ctx, "/d/ok.txt", "/d/"+marker), objfs.ErrInvalidName)
			// Content stored at a marker's key by another tool is a file:
			// listed, and RMD does not delete it with the directory.
			must(t, v.Mkdir(ctx, "/m"))
			storePut(t, s, "m/"+marker, "not a marker")
			if got := names(t, v, "/m"); got != marker {
				t.Errorf("list /m = %q", got)
			}
			mustFail(t, v.Remove(ctx, "/m/ok"), fs.ErrNotExist)
			mustFail(t, v.RemoveDir(ctx, "/m"), objfs.ErrNotEmpty)
		}
		// A key with a line break, written by another tool, is not listed.
		storePut(t, s, "d/evil\r\n226 forged.txt", "x")
		if got := names(t, v, "/d"); got != "ok.txt" {
			t.Errorf("list /d = %q", got)
		}
	})

	t.Run("read-only", func(t *testing.T) {
		f, _ := newFS(t)
		rw := f.View("", false, nil)
		must(t, rw.Mkdir(ctx, "/d"))
		put(t, rw, "/d/f", "data")
		ro := f.View("", true, nil)
		mustFail(t, ro.Mkdir(ctx, "/e"), objfs.ErrReadOnly)
		mustFail(t, ro.Remove(ctx, "/d/f"), objfs.ErrReadOnly)
		mustFail(t, ro.RemoveDir(ctx, "/d"), objfs.ErrReadOnly)
		mustFail(t, ro.Rename(ctx, "/d/f", "/g"), objfs.ErrReadOnly)
		_, err := ro.Create(ctx, "/new")
		mustFail(t, err, objfs.ErrReadOnly)
		if got := read(t, ro, "/d/f", 0); got != "data" {
			t.Errorf("read-only read: %q", got)
		}
		if got := names(t, ro, "/d"); got != "f" {
			t.Errorf("read-only list: %q", got)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustFail(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("err = %v, want %v", err, want)
	}
	var pe *fs.PathError
	if err != nil && !errors.As(err, &pe) {
		t.Errorf("%v does not name its path", err)
	}
}

func put(t *testing.T, v *objfs.View, p, data string) {
	t.Helper()
	u, err := v.Create(ctx, p)
	must(t, err)
	_, err = u.Write([]byte(data))
	must(t, err)
	must(t, u.Commit(ctx))
}

func read(t *testing.T, v *objfs.View, p string, off int64) string {
	t.Helper()
	r, _, err := v.Open(ctx, p, off)
	must(t, err)
	defer r.Close()
	b, err := io.ReadAll(r)
	must(t, err)
	return string(b)
}

func storePut(t *testing.T, s storage.Store, key, data string) {
	t.Helper()
	u, err := s.Create(ctx, key)
	must(t, err)
	_, err = io.Copy(u, bytes.NewReader([]byte(data)))
	must(t, err)
	must(t, u.Commit(ctx))
}

func readKey(t *testing.T, s storage.Store, key string) string {
	t.Helper()
	r, err := s.Open(ctx, key, 0)
	must(t, err)
	defer r.Close()
	b, _ := io.ReadAll(r)
	return string(b)
}

// names lists p as "dir/ file ..." in the view's order.
func names(t *testing.T, v *objfs.View, p string) string {
	t.Helper()
	list, err := v.ReadDir(ctx, p)
	must(t, err)
	var out []string
	for _, fi := range list {
		n := fi.Name()
		if fi.IsDir() {
			n += "/"
		}
		out = append(out, n)
	}
	return strings.Join(out, " ")
}

package s3store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ftps3/ftps3/app/storage"
	"github.com/ftps3/ftps3/app/storage/bufpool"
	"github.com/ftps3/ftps3/app/storage/digest"
	"github.com/ftps3/ftps3/app/storage/s3store"
	"github.com/ftps3/ftps3/internal/testenv"
)

const part = s3store.MinPartSize

// cut writes data[:n] and suspends, as a front door does when its client
// is cut off.
func cut(t *testing.T, s *s3store.Store, key string, data []byte) {
	t.Helper()
	u, err := s.Create(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := u.(storage.SuspendableUpload).Suspend(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func content(t *testing.T, s storage.Store, key string) []byte {
	t.Helper()
	r, err := s.Open(context.Background(), key, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	return b
}

func TestCutUploadResumes(t *testing.T) {
	m := testenv.SharedMinIO(t)
	opts := s3store.Options{Checksums: digest.All, ResumeWindow: time.Hour}
	s, bucket := newStore(t, m, opts)
	ctx := context.Background()
	data := make([]byte, 4*part+12345)
	rand.Read(data)
	old := []byte("yesterday's file")
	if err := put(t, s, "f.bin", old); err != nil {
		t.Fatal(err)
	}
	cut(t, s, "f.bin", data[:2*part+777]) // two parts held, 777 bytes buffered and lost
	p, err := s.Pending(ctx, "f.bin")
	if err != nil || p.Offset != 2*part {
		t.Fatalf("pending: %+v, %v; want offset %d", p, err, 2*part)
	}
	if got := content(t, s, "f.bin"); !bytes.Equal(got, old) {
		t.Fatalf("the previous object changed while the upload is pending (%d bytes)", len(got))
	}
	// Nothing of the pending upload is listed beside the file.
	var listed []string
	must(t, s.List(ctx, "", storage.ListOptions{}, func(o storage.Object) error { listed = append(listed, o.Key); return nil }))
	if fmt.Sprint(listed) != "[.ftps3/ f.bin]" {
		t.Fatalf("listing %v", listed) // objfs hides .ftps3/ from clients
	}

	// Another offset names the right one; the pending upload stays.
	_, err = s.Resume(ctx, "f.bin", part)
	var oe *storage.OffsetError
	if !errors.As(err, &oe) || oe.Want != 2*part {
		t.Fatalf("resume at the wrong offset: %v", err)
	}
	// A restarted gateway (another Store on the bucket) resumes it.
	s2, err := s3store.New(m.Client(t), s3store.Options{Bucket: bucket, Pool: bufpool.New(64 << 20), PartSize: part, Checksums: digest.All, ResumeWindow: time.Hour})
	if err == nil {
		defer s2.Close(ctx)
	}
	must(t, err)
	u, err := s2.Resume(ctx, "f.bin", 2*part)
	must(t, err)
	if u.Written() != 2*part {
		t.Fatalf("resumed upload starts at %d", u.Written())
	}
	// Cut again, later: the pending offset moves on.
	_, err = u.Write(data[2*part : 3*part+5])
	must(t, err)
	must(t, u.(storage.SuspendableUpload).Suspend(ctx))
	if p, err := s.Pending(ctx, "f.bin"); err != nil || p.Offset != 3*part {
		t.Fatalf("pending after a second cut: %+v, %v", p, err)
	}
	u, err = s.Resume(ctx, "f.bin", 3*part)
	must(t, err)
	_, err = u.Write(data[3*part:])
	must(t, err)
	must(t, u.Commit(ctx))
	if got := content(t, s, "f.bin"); !bytes.Equal(got, data) {
		t.Fatalf("resumed object differs: %d bytes of %d", len(got), len(data))
	}
	// Its checksums cover the whole file.
	if got, err := s.Sums(ctx, "f.bin"); err != nil || fmt.Sprint(got) != fmt.Sprint(wantSums(data)) {
		t.Fatalf("sums %v (%v), want %v", got, err, wantSums(data))
	}
	if _, err := s.Pending(ctx, "f.bin"); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("still pending after commit: %v", err)
	}
	if n := len(m.IncompleteUploads(t, bucket)); n != 0 {
		t.Fatalf("%d multipart uploads left", n)
	}
}

// Many sessions resume one pending upload at once: one wins, the others are
// told someone else is resuming, and the object is never mixed.
func TestOneResumeWins(t *testing.T) {
	m := testenv.SharedMinIO(t)
	s, _ := newStore(t, m, s3store.Options{ResumeWindow: time.Hour})
	data := make([]byte, 2*part+10)
	rand.Read(data)
	cut(t, s, "race", data[:part+1])
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []storage.Upload
		busy    int
	)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := s.Resume(context.Background(), "race", part)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				winners = append(winners, u)
			case errors.Is(err, storage.ErrResuming):
				busy++
			default:
				t.Errorf("resume: %v", err)
			}
		}()
	}
	wg.Wait()
	if len(winners) != 1 || busy != 7 {
		t.Fatalf("%d resumed, %d told busy; want 1 and 7", len(winners), busy)
	}
	_, err := winners[0].Write(data[part:])
	must(t, err)
	must(t, winners[0].Commit(context.Background()))
	if !bytes.Equal(content(t, s, "race"), data) {
		t.Fatal("object differs")
	}
}

func TestPendingUploadEnds(t *testing.T) {
	m := testenv.SharedMinIO(t)
	ctx := context.Background()
	data := make([]byte, part+10)
	rand.Read(data)

	t.Run("a new upload without an offset replaces it", func(t *testing.T) {
		s, bucket := newStore(t, m, s3store.Options{ResumeWindow: time.Hour})
		cut(t, s, "k", data)
		must(t, put(t, s, "k", []byte("fresh")))
		waitFor(t, func() bool {
			_, err := s.Pending(ctx, "k")
			return errors.Is(err, storage.ErrNotExist) && len(m.IncompleteUploads(t, bucket)) == 0
		})
	})
	t.Run("the window ends", func(t *testing.T) {
		s, bucket := newStore(t, m, s3store.Options{ResumeWindow: time.Second})
		cut(t, s, "k", data)
		time.Sleep(1100 * time.Millisecond)
		if _, err := s.Resume(ctx, "k", part); !errors.Is(err, storage.ErrNotExist) {
			t.Fatalf("resume after the window: %v", err)
		}
		waitFor(t, func() bool { return len(m.IncompleteUploads(t, bucket)) == 0 })
	})
	t.Run("an explicit discard", func(t *testing.T) {
		s, bucket := newStore(t, m, s3store.Options{ResumeWindow: time.Hour})
		cut(t, s, "k", data)
		must(t, s.Discard(ctx, "k"))
		if _, err := s.Pending(ctx, "k"); !errors.Is(err, storage.ErrNotExist) {
			t.Fatalf("pending after discard: %v", err)
		}
		waitFor(t, func() bool { return len(m.IncompleteUploads(t, bucket)) == 0 })
	})
	t.Run("resuming off: a cut is an abort", func(t *testing.T) {
		s, bucket := newStore(t, m, s3store.Options{})
		cut(t, s, "k", data)
		if n := len(m.IncompleteUploads(t, bucket)); n != 0 {
			t.Fatalf("%d multipart uploads kept with resuming off", n)
		}
	})
	t.Run("the stale cleanup keeps a live pending upload", func(t *testing.T) {
		s, bucket := newStore(t, m, s3store.Options{ResumeWindow: time.Hour})
		cut(t, s, "k", data)
		if _, err := s.AbortStale(ctx, 30*time.Minute); err == nil {
			t.Fatal("a stale age shorter than the resume window was accepted")
		}
		n, err := s.AbortStale(ctx, 2*time.Hour)
		must(t, err)
		if n != 0 || len(m.IncompleteUploads(t, bucket)) != 1 {
			t.Fatalf("the cleanup took a pending upload (%d aborted)", n)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A cut of a new upload while an older one of the name is pending makes
// the new one pending; the commit of a new upload drops an older pending
// one, never a newer.
func TestNewestWriteOfANameWins(t *testing.T) {
	m := testenv.SharedMinIO(t)
	s, bucket := newStore(t, m, s3store.Options{ResumeWindow: time.Hour})
	ctx := context.Background()
	a, b := make([]byte, part+1), make([]byte, 2*part+1)
	rand.Read(a)
	rand.Read(b)
	cut(t, s, "k", a)
	cut(t, s, "k", b) // the newer cut replaces the older
	if p, err := s.Pending(ctx, "k"); err != nil || p.Offset != 2*part {
		t.Fatalf("pending %+v, %v: want the newer cut's %d", p, err, 2*part)
	}
	waitFor(t, func() bool { return len(m.IncompleteUploads(t, bucket)) == 1 })

	// A commit replaces it: the pending upload is older than the object.
	must(t, put(t, s, "k", []byte("committed")))
	if p, err := s.Pending(ctx, "k"); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("pending %+v, %v after a newer commit", p, err)
	}
	waitFor(t, func() bool { return len(m.IncompleteUploads(t, bucket)) == 0 })
	// A cut after that commit is the newest write again.
	cut(t, s, "k", a)
	if p, err := s.Pending(ctx, "k"); err != nil || p.Offset != part {
		t.Fatalf("pending %+v, %v: the cut after the commit is not pending", p, err)
	}
	u, err := s.Resume(ctx, "k", part)
	must(t, err)
	_, err = u.Write(a[part:])
	must(t, err)
	must(t, u.Commit(ctx))
	if !bytes.Equal(content(t, s, "k"), a) {
		t.Fatal("object differs")
	}
	waitFor(t, func() bool { return len(m.IncompleteUploads(t, bucket)) == 0 })
}

// An object written after the cut (by another program) is newer than the
// pending upload: resuming it would replace that object with older bytes.
func TestNoResumeOverANewerObject(t *testing.T) {
	m := testenv.SharedMinIO(t)
	s, bucket := newStore(t, m, s3store.Options{ResumeWindow: time.Hour})
	data := make([]byte, part+1)
	rand.Read(data)
	cut(t, s, "k", data)
	_, err := m.Client(t).PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("k"), Body: strings.NewReader("newer")})
	must(t, err)
	if _, err := s.Resume(context.Background(), "k", part); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("resume over a newer object: %v", err)
	}
	if string(content(t, s, "k")) != "newer" {
		t.Fatal("the newer object changed")
	}
}

// The algorithms recorded may change between a cut and its resume: the
// resumed upload records those that cover the whole file.
func TestResumeAfterChecksumsChanged(t *testing.T) {
	m := testenv.SharedMinIO(t)
	s, bucket := newStore(t, m, s3store.Options{ResumeWindow: time.Hour, Checksums: []digest.Algorithm{digest.SHA256, digest.MD5}})
	data := make([]byte, part+77)
	rand.Read(data)
	cut(t, s, "k", data[:part+5])
	s2, err := s3store.New(m.Client(t), s3store.Options{Bucket: bucket, Pool: bufpool.New(64 << 20), PartSize: part,
		ResumeWindow: time.Hour, Checksums: []digest.Algorithm{digest.SHA256, digest.SHA1}})
	must(t, err)
	u, err := s2.Resume(context.Background(), "k", part)
	must(t, err)
	_, err = u.Write(data[part:])
	must(t, err)
	must(t, u.Commit(context.Background()))
	got, err := s2.Sums(context.Background(), "k")
	must(t, err)
	if want := wantSums(data); len(got) != 1 || got[digest.SHA256] != want[digest.SHA256] {
		t.Fatalf("sums %v: want only the whole file's sha256 %s", got, want[digest.SHA256])
	}
}

// A resume claimed near the end of the window keeps the upload alive: the
// window starts again at the claim.
func TestClaimExtendsTheWindow(t *testing.T) {
	m := testenv.SharedMinIO(t)
	s, _ := newStore(t, m, s3store.Options{ResumeWindow: 2 * time.Second})
	key := strings.Repeat("long/", 200) + "name" // 1004 bytes: the state's name is fixed-length
	data := make([]byte, part+9)
	rand.Read(data)
	cut(t, s, key, data)
	time.Sleep(1500 * time.Millisecond)
	u, err := s.Resume(context.Background(), key, part)
	must(t, err)
	time.Sleep(1000 * time.Millisecond) // past the first window
	if _, err := s.Pending(context.Background(), key); err != nil {
		t.Fatalf("the claimed upload expired: %v", err)
	}
	_, err = u.Write(data[part:])
	must(t, err)
	must(t, u.Commit(context.Background()))
	if !bytes.Equal(content(t, s, key), data) {
		t.Fatal("object differs")
	}
}

// A new upload of the name that ends keeping nothing (aborted, or cut
// before a part was stored) takes the older pending upload with it: a
// resume of that one with the new upload's bytes would mix two versions.
func TestNewUploadThatKeepsNothingDropsTheOlder(t *testing.T) {
	m := testenv.SharedMinIO(t)
	s, bucket := newStore(t, m, s3store.Options{ResumeWindow: time.Hour})
	ctx := context.Background()
	old := make([]byte, 2*part+5)
	rand.Read(old)
	for _, end := range []string{"abort", "cut before a part"} {
		cut(t, s, "k", old)
		u, err := s.Create(ctx, "k")
		must(t, err)
		_, err = u.Write(make([]byte, 1000))
		must(t, err)
		if end == "abort" {
			must(t, u.Abort(ctx))
		} else {
			must(t, u.(storage.SuspendableUpload).Suspend(ctx))
		}
		if p, err := s.Pending(ctx, "k"); !errors.Is(err, storage.ErrNotExist) {
			t.Fatalf("%s: the older upload is still pending at %d (%v)", end, p.Offset, err)
		}
		waitFor(t, func() bool { return len(m.IncompleteUploads(t, bucket)) == 0 })
	}
}

// A cut right at a part's end, all bytes received in parts: the offset
// kept is one part less, so that a client comparing sizes still resumes.
func TestCutAtAPartBoundaryKeepsOnePartLess(t *testing.T) {
	m := testenv.SharedMinIO(t)
	s, _ := newStore(t, m, s3store.Options{ResumeWindow: time.Hour})
	data := make([]byte, 3*part)
	rand.Read(data)
	cut(t, s, "k", data)
	p, err := s.Pending(context.Background(), "k")
	if err != nil || p.Offset != 2*part {
		t.Fatalf("pending %+v (%v), want offset %d", p, err, 2*part)
	}
	u, err := s.Resume(context.Background(), "k", 2*part)
	must(t, err)
	_, err = u.Write(data[2*part:])
	must(t, err)
	must(t, u.Commit(context.Background()))
	if !bytes.Equal(content(t, s, "k"), data) {
		t.Fatal("object differs")
	}
}

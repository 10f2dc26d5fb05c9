package s3store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ftps3/ftps3/app/storage"
	"github.com/ftps3/ftps3/app/storage/bufpool"
	"github.com/ftps3/ftps3/app/storage/s3store"
	"github.com/ftps3/ftps3/app/storage/storagetest"
	"github.com/ftps3/ftps3/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func newStore(t *testing.T, m *testenv.MinIO, opts s3store.Options) (*s3store.Store, string) {
	t.Helper()
	bucket := m.NewBucket(t)
	opts.Bucket = bucket
	if opts.Pool == nil {
		opts.Pool = bufpool.New(64 << 20)
	}
	if opts.PartSize == 0 {
		opts.PartSize = s3store.MinPartSize
	}
	s, err := s3store.New(m.Client(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s, bucket
}

func TestConformance(t *testing.T) {
	m := testenv.SharedMinIO(t)
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, _ := newStore(t, m, s3store.Options{})
		return s
	})
}

func TestMultipartUploadRoundTrip(t *testing.T) {
	m := testenv.SharedMinIO(t)
	pool := bufpool.New(64 << 20)
	s, bucket := newStore(t, m, s3store.Options{Pool: pool, BuffersPerUpload: 3})
	data := make([]byte, 17<<20+123) // four parts, the last one short
	rand.Read(data)
	u, err := s.Create(context.Background(), "big.bin")
	if err != nil {
		t.Fatal(err)
	}
	// Odd-sized writes, as a network stream gives them.
	for off := 0; off < len(data); {
		n := min(len(data)-off, 100_003)
		if _, err := u.Write(data[off : off+n]); err != nil {
			t.Fatal(err)
		}
		off += n
	}
	if len(m.IncompleteUploads(t, bucket)) != 1 {
		t.Error("no multipart upload in progress while writing a large object")
	}
	if err := u.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, err := s.Open(context.Background(), "big.bin", 0)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, data) {
		t.Fatalf("round trip differs: %d bytes back of %d", len(got), len(data))
	}
	if held, _, peak := pool.Stats(); held != 0 || peak > 3*s3store.MinPartSize {
		t.Errorf("buffers: held %d after commit, peak %d (limit 3 parts)", held, peak)
	}
	if n := len(m.IncompleteUploads(t, bucket)); n != 0 {
		t.Errorf("%d incomplete uploads left", n)
	}
}

func TestAbortLeavesNoIncompleteUpload(t *testing.T) {
	m := testenv.SharedMinIO(t)
	s, bucket := newStore(t, m, s3store.Options{})
	u, _ := s.Create(context.Background(), "partial")
	u.Write(make([]byte, 12<<20))
	if err := u.Abort(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(m.IncompleteUploads(t, bucket)); n != 0 {
		t.Errorf("%d incomplete uploads left", n)
	}
	if _, err := s.Stat(context.Background(), "partial"); err == nil {
		t.Error("aborted upload is visible")
	}
}

func TestPartSizeGrowsToReachFiveTebibytes(t *testing.T) {
	var total int64
	for n := int32(1); n <= s3store.MaxParts; n++ {
		size := s3store.PartSize(6<<20, n)
		if size < s3store.MinPartSize || size > s3store.MaxPartSize {
			t.Fatalf("part %d: size %d out of S3 limits", n, size)
		}
		total += size
	}
	if total < 5<<40 {
		t.Fatalf("10,000 parts hold %d bytes, less than 5 TiB", total)
	}
	if s3store.PartSize(6<<20, 1000) != 6<<20 || s3store.PartSize(6<<20, 1001) != 12<<20 {
		t.Error("part size does not double after 1000 parts")
	}
}

func TestLargeCopyUsesUploadPartCopy(t *testing.T) {
	m := testenv.SharedMinIO(t)
	s, bucket := newStore(t, m, s3store.Options{CopyLimit: 6 << 20, CopyPartSize: 5 << 20})
	data := make([]byte, 13<<20)
	rand.Read(data)
	storagetest.Put(t, s, "src", data)
	if err := s.Copy(context.Background(), "src", "dst"); err != nil {
		t.Fatal(err)
	}
	r, err := s.Open(context.Background(), "dst", 0)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, data) {
		t.Fatal("multipart copy differs")
	}
	if n := len(m.IncompleteUploads(t, bucket)); n != 0 {
		t.Errorf("%d incomplete uploads left", n)
	}
}

// S3 goes away in the middle of an upload: the write fails, the abort cannot
// reach S3 and is retried in the background until S3 is back.
func TestAbortIsRetriedUntilS3IsBack(t *testing.T) {
	m := testenv.StartMinIO(t)
	s, bucket := newStore(t, m, s3store.Options{AbortRetry: s3store.RetryPolicy{First: 200 * time.Millisecond, Max: time.Second}})
	u, _ := s.Create(context.Background(), "doomed")
	if _, err := u.Write(make([]byte, 6<<20)); err != nil {
		t.Fatal(err)
	}
	if len(m.IncompleteUploads(t, bucket)) != 1 {
		t.Fatal("expected one multipart upload in progress")
	}
	m.Stop()
	var werr error
	for i := 0; i < 10 && werr == nil; i++ {
		_, werr = u.Write(make([]byte, 5<<20))
	}
	if werr == nil {
		werr = u.Commit(context.Background())
	}
	if werr == nil {
		t.Fatal("upload succeeded with S3 stopped")
	}
	u.Abort(context.Background())
	if s.PendingAborts() != 1 {
		t.Fatalf("pending aborts = %d, want 1", s.PendingAborts())
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for s.PendingAborts() > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := len(m.IncompleteUploads(t, bucket)); n != 0 || s.PendingAborts() != 0 {
		t.Fatalf("after S3 came back: %d incomplete uploads, %d aborts pending", n, s.PendingAborts())
	}
	storagetest.Put(t, s, "next", []byte("works again"))
}

func TestCheckNamesAMissingBucket(t *testing.T) {
	m := testenv.SharedMinIO(t)
	s, _ := newStore(t, m, s3store.Options{})
	if err := s.Check(context.Background()); err != nil {
		t.Fatalf("existing bucket: %v", err)
	}
	missing, err := s3store.New(m.Client(t), s3store.Options{Bucket: "no-such-bucket-here", Pool: bufpool.New(64 << 20)})
	if err != nil {
		t.Fatal(err)
	}
	if err := missing.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "no-such-bucket-here") {
		t.Fatalf("missing bucket: %v", err)
	}
}

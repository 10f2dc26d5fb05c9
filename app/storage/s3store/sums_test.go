package s3store_test

import (
	"bytes"
	"context"
	"crypto/md5" //nolint:gosec // test
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // test
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ftps3/ftps3/app/storage"
	"github.com/ftps3/ftps3/app/storage/bufpool"
	"github.com/ftps3/ftps3/app/storage/digest"
	"github.com/ftps3/ftps3/app/storage/s3store"
	"github.com/ftps3/ftps3/internal/testenv"
)

func wantSums(data []byte) digest.Sums {
	s256, s1, m5 := sha256.Sum256(data), sha1.Sum(data), md5.Sum(data) //nolint:gosec // test
	return digest.Sums{digest.SHA256: hex.EncodeToString(s256[:]), digest.SHA1: hex.EncodeToString(s1[:]), digest.MD5: hex.EncodeToString(m5[:])}
}

func put(t *testing.T, s storage.Store, key string, data []byte) error {
	t.Helper()
	u, err := s.Create(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(data); off += 100_003 {
		if _, err := u.Write(data[off:min(off+100_003, len(data))]); err != nil {
			_ = u.Abort(context.Background()) // as a front door does
			return err
		}
	}
	return u.Commit(context.Background())
}

func TestUploadsRecordTheirSums(t *testing.T) {
	m := testenv.SharedMinIO(t)
	s, _ := newStore(t, m, s3store.Options{Checksums: digest.All, CopyLimit: 6 << 20})
	ctx := context.Background()
	for _, size := range []int{0, 1, 5<<20 - 1, 12<<20 + 7} { // single PUTs, then a multipart upload
		data := make([]byte, size)
		rand.Read(data)
		key := fmt.Sprintf("dir/f%d", size)
		if err := put(t, s, key, data); err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		got, err := s.Sums(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(wantSums(data)) {
			t.Fatalf("%d bytes: sums %v, want %v", size, got, wantSums(data))
		}
		// A copy keeps them: CopyObject for small objects, parts beyond
		// CopyLimit.
		if err := s.Copy(ctx, key, key+".copy"); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Sums(ctx, key+".copy"); err != nil || fmt.Sprint(got) != fmt.Sprint(wantSums(data)) {
			t.Fatalf("%d bytes: copy's sums %v (%v), want %v", size, got, err, wantSums(data))
		}
	}
	if _, err := s.Sums(ctx, "dir/missing"); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("sums of a missing key: %v, want ErrNotExist", err)
	}
}

func TestSumsOfObjectsWrittenByOthers(t *testing.T) {
	m := testenv.SharedMinIO(t)
	s, bucket := newStore(t, m, s3store.Options{Checksums: digest.All})
	c, ctx := m.Client(t), context.Background()
	data := []byte("written straight to S3 by another program\n")
	sum := sha256.Sum256(data)
	// A single PUT with its SHA-256: S3 keeps the file's digest.
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &bucket, Key: aws.String("sdk-sha256"), Body: bytes.NewReader(data),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256, ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum[:])),
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Sums(ctx, "sdk-sha256")
	if err != nil || got[digest.SHA256] != hex.EncodeToString(sum[:]) || len(got) != 1 {
		t.Fatalf("sums of a PUT with SHA-256: %v (%v), want only sha256 %x", got, err, sum)
	}
	// A PUT without one, and a multipart upload whose SHA-256 is a checksum
	// of its parts' checksums: nothing to tell.
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("sdk-plain"), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String("sdk-parts"), ChecksumAlgorithm: types.ChecksumAlgorithmSha256})
	if err != nil {
		t.Fatal(err)
	}
	part, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: aws.String("sdk-parts"), UploadId: mp.UploadId, PartNumber: aws.Int32(1),
		Body: bytes.NewReader(data), ChecksumAlgorithm: types.ChecksumAlgorithmSha256})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: aws.String("sdk-parts"), UploadId: mp.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag, ChecksumSHA256: part.ChecksumSHA256}}}}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"sdk-plain", "sdk-parts"} {
		if got, err := s.Sums(ctx, key); err != nil || len(got) != 0 {
			t.Errorf("sums of %s: %v (%v), want none", key, got, err)
		}
	}
}

// Bytes changed after they were hashed (here by a hook inside the process,
// as a memory or proxy fault would) make S3 refuse the upload: no object,
// no multipart upload left, the previous object untouched.
func TestCorruptedUploadIsRefused(t *testing.T) {
	m := testenv.SharedMinIO(t)
	for _, algs := range [][]digest.Algorithm{digest.All, nil} {
		s, bucket := newStore(t, m, s3store.Options{Checksums: algs})
		for _, size := range []int{1000, 12 << 20} {
			name := fmt.Sprintf("checksums %v, %d bytes", algs, size)
			old := []byte("the previous object")
			if err := put(t, s, "victim", old); err != nil {
				t.Fatal(err)
			}
			data := make([]byte, size)
			rand.Read(data)
			s3store.SetBeforeSend(func(body []byte) {
				if len(body) > 0 {
					body[len(body)/2] ^= 0x55
				}
			})
			err := put(t, s, "victim", data)
			s3store.SetBeforeSend(nil)
			if !errors.Is(err, storage.ErrChecksumMismatch) {
				t.Fatalf("%s: a corrupted upload gave %v, want ErrChecksumMismatch", name, err)
			}
			r, oerr := s.Open(context.Background(), "victim", 0)
			if oerr != nil {
				t.Fatal(oerr)
			}
			var got bytes.Buffer
			got.ReadFrom(r)
			r.Close()
			if !bytes.Equal(got.Bytes(), old) {
				t.Fatalf("%s: the object is now %d bytes, want the previous one", name, got.Len())
			}
			if n := len(m.IncompleteUploads(t, bucket)); n != 0 {
				t.Fatalf("%s: %d multipart uploads left", name, n)
			}
			t.Logf("%s: refused: %v", name, err)
		}
	}
}

// fronted is a Store that reaches MinIO through a proxy that refuses some
// requests the way another S3 server or a narrower IAM policy would.
func fronted(t *testing.T, m *testenv.MinIO, opts s3store.Options, refuse func(r *http.Request) (status int, code string)) (*s3store.Store, *testenv.SyncBuffer) {
	t.Helper()
	target, _ := url.Parse(m.Endpoint)
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status, code := refuse(r); status != 0 {
			w.WriteHeader(status)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>refused by the test proxy</Message></Error>`, code)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	co := m.ClientOptions()
	co.Endpoint = srv.URL
	c, err := s3store.NewClient(context.Background(), co)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.SyncBuffer{}
	opts.Bucket, opts.Pool, opts.PartSize = m.NewBucket(t), bufpool.New(64<<20), s3store.MinPartSize
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	s, err := s3store.New(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s, logs
}

// Credentials from an aioftps3-era policy (s3:PutObject, no
// s3:PutObjectTagging): uploads still work, without recorded sums, and the
// log says what to grant.
func TestUploadsWithoutTaggingPermission(t *testing.T) {
	m := testenv.SharedMinIO(t)
	s, logs := fronted(t, m, s3store.Options{Checksums: digest.All}, func(r *http.Request) (int, string) {
		if r.Header.Get("X-Amz-Tagging") != "" || r.URL.Query().Has("tagging") {
			return http.StatusForbidden, "AccessDenied"
		}
		return 0, ""
	})
	for _, size := range []int{100, 12 << 20} {
		data := make([]byte, size)
		rand.Read(data)
		if err := put(t, s, "f", data); err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		got, err := s.Sums(context.Background(), "f")
		if err != nil {
			t.Fatal(err)
		}
		// S3 still holds the SHA-256 the single PUT was sent with.
		if size == 100 && got[digest.SHA256] != wantSums(data)[digest.SHA256] {
			t.Errorf("single PUT: sums %v, want S3's own sha256", got)
		}
		if size > 100 && len(got) != 0 {
			t.Errorf("multipart: sums %v without tags, want none", got)
		}
	}
	if n := strings.Count(logs.String(), "s3:PutObjectTagging"); n != 1 {
		t.Errorf("the missing permission was logged %d times, want once:\n%s", n, logs)
	}
}

// An AccessDenied that is not about tags (a key the policy does not cover)
// fails that upload and leaves tagging on for the others.
func TestUnrelatedAccessDeniedKeepsTags(t *testing.T) {
	m := testenv.SharedMinIO(t)
	s, logs := fronted(t, m, s3store.Options{Checksums: digest.All}, func(r *http.Request) (int, string) {
		if strings.Contains(r.URL.Path, "forbidden") {
			return http.StatusForbidden, "AccessDenied"
		}
		return 0, ""
	})
	if err := put(t, s, "forbidden/f", []byte("x")); err == nil {
		t.Fatal("an upload the policy refuses was stored")
	}
	data := []byte("allowed")
	must(t, put(t, s, "ok/f", data))
	if got, err := s.Sums(context.Background(), "ok/f"); err != nil || fmt.Sprint(got) != fmt.Sprint(wantSums(data)) {
		t.Fatalf("sums %v (%v): tagging was turned off by an unrelated refusal", got, err)
	}
	if strings.Contains(logs.String(), "s3:PutObjectTagging") {
		t.Fatalf("logged a missing tagging permission:\n%s", logs)
	}
}

// A server that does not take full-object checksums: multipart uploads go
// on with per-part CRC32C.
func TestServerWithoutFullObjectChecksums(t *testing.T) {
	m := testenv.SharedMinIO(t)
	s, logs := fronted(t, m, s3store.Options{Checksums: digest.All}, func(r *http.Request) (int, string) {
		if r.Header.Get("X-Amz-Checksum-Type") != "" {
			return http.StatusBadRequest, "InvalidArgument"
		}
		return 0, ""
	})
	for i := 0; i < 2; i++ {
		data := make([]byte, 12<<20)
		rand.Read(data)
		if err := put(t, s, "big", data); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Sums(context.Background(), "big"); err != nil || fmt.Sprint(got) != fmt.Sprint(wantSums(data)) {
			t.Fatalf("sums %v (%v), want %v", got, err, wantSums(data))
		}
	}
	if n := strings.Count(logs.String(), "refuses full-object checksums"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, logs)
	}
	// Without the whole-object check, each part's CRC32C is still the one
	// of the bytes as they arrived: a part changed afterwards is refused.
	data := make([]byte, 12<<20)
	rand.Read(data)
	s3store.SetBeforeSend(func(body []byte) { body[7] ^= 1 })
	err := put(t, s, "big", data)
	s3store.SetBeforeSend(nil)
	if !errors.Is(err, storage.ErrChecksumMismatch) {
		t.Fatalf("a part changed after hashing: %v, want ErrChecksumMismatch", err)
	}
}

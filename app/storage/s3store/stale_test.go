package s3store_test

import (
	"bytes"
	"context"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ftps3/ftps3/app/storage/s3store"
	"github.com/ftps3/ftps3/internal/testenv"
)

// A gateway killed with -9 leaves incomplete multipart uploads; the next
// start aborts those that are old and idle, and no upload still being written.
func TestAbortStaleTakesOnlyOldIdleUploads(t *testing.T) {
	m := testenv.SharedMinIO(t)
	s, bucket := newStore(t, m, s3store.Options{})
	c := m.Client(t)
	ctx := context.Background()
	start := func(key string) string {
		out, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.UploadId)
	}
	part := func(key, id string) {
		_, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: aws.String(key), UploadId: aws.String(id),
			PartNumber: aws.Int32(1), Body: bytes.NewReader(make([]byte, 1024))})
		if err != nil {
			t.Fatal(err)
		}
	}
	left := start("killed/left-behind.bin")
	part("killed/left-behind.bin", left)
	active := start("busy/still-writing.bin")
	start("idle/no-parts.bin")
	time.Sleep(2 * time.Second) // these three are now 2 s old
	part("busy/still-writing.bin", active)
	start("new/just-started.bin")

	n, err := s.AbortStale(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, u := range m.IncompleteUploads(t, bucket) {
		keys = append(keys, aws.ToString(u.Key))
	}
	sort.Strings(keys)
	if n != 2 || len(keys) != 2 || keys[0] != "busy/still-writing.bin" || keys[1] != "new/just-started.bin" {
		t.Fatalf("aborted %d; left %v, want busy/still-writing.bin and new/just-started.bin", n, keys)
	}
}

// Package s3store implements storage.Store on Amazon S3 or any S3-compatible
// server (MinIO, Ceph, ...), with aws-sdk-go-v2.
//
// Uploads stream as multipart uploads: parts go to S3 while the client is
// still sending, part buffers come from a process-wide budget (bufpool), the
// part size grows with the upload so that an upload of unknown length can
// reach S3's object size limit, and every part carries a CRC32C checksum that
// S3 verifies. Small uploads (less than one part) are sent with one PutObject.
package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/ftps3/ftps3/app/storage"
	"github.com/ftps3/ftps3/app/storage/bufpool"
	"github.com/ftps3/ftps3/app/storage/digest"
)

// S3 limits that shape uploads and copies.
const (
	MinPartSize      = 5 << 20 // every part but the last
	MaxPartSize      = 5 << 30 // any part
	MaxParts         = 10000   // parts in one multipart upload
	MaxCopyObject    = 5 << 30 // CopyObject's source size limit
	copyPartSize     = 512 << 20
	partsPerSizeStep = 1000 // the part size doubles every this many parts
)

// Options configure a Store.
type Options struct {
	Bucket string
	// PartSize is the size of the first parts (default 6 MiB, at least 5 MiB).
	// It doubles every 1000 parts, so the largest object is about
	// 1,023,000 × PartSize (6 MiB reaches S3's 5 TiB limit).
	PartSize int64
	// BuffersPerUpload is how many part buffers one upload may always hold:
	// one being filled and the rest being sent (default 2, at least 2).
	BuffersPerUpload int
	// MaxBuffersPerUpload is how many it may hold while the pool has spare
	// memory (bufpool.Pool.Spare): more parts in flight, more throughput for
	// a few uploads, the guaranteed share under load (default 5).
	MaxBuffersPerUpload int
	// Pool is the process-wide part buffer budget (required).
	Pool *bufpool.Pool
	// CopyLimit: objects larger than this are copied with UploadPartCopy
	// (default and maximum: 5 GiB, the CopyObject limit).
	CopyLimit int64
	// CopyPartSize is the UploadPartCopy part size (default 512 MiB).
	CopyPartSize int64
	// AbortRetry bounds how an AbortMultipartUpload that failed is retried in
	// the background (defaults: 1 s doubling to 1 min, for 24 h).
	AbortRetry RetryPolicy
	// ResumeWindow is how long a cut upload (Suspend) is kept for resuming
	// (resume.go); 0 aborts cut uploads.
	ResumeWindow time.Duration
	// Checksums are the digests computed while each upload streams and
	// recorded with the object (tags.go); none when empty.
	Checksums []digest.Algorithm
	Logger    *slog.Logger
}

// Store is a storage.Store on one S3 bucket.
type Store struct {
	client   *s3.Client
	opts     Options
	aborter  *aborter
	requests requestCounts

	noTags       atomic.Bool // the credentials may not tag objects (tags.go)
	noFullObject atomic.Bool // the server refuses full-object checksums
	noState      atomic.Bool // the credentials cannot reach PendingPrefix (resume.go)
}

var (
	_ storage.Store  = (*Store)(nil)
	_ storage.Summer = (*Store)(nil)
)

// New returns a Store that uses client for bucket opts.Bucket.
func New(client *s3.Client, opts Options) (*Store, error) {
	if opts.Bucket == "" {
		return nil, errors.New("s3store: bucket name is empty")
	}
	if opts.Pool == nil {
		return nil, errors.New("s3store: no buffer pool")
	}
	if opts.PartSize == 0 {
		opts.PartSize = 6 << 20
	}
	if opts.PartSize < MinPartSize || opts.PartSize > MaxPartSize {
		return nil, fmt.Errorf("s3store: part size %d outside S3's %d..%d bytes", opts.PartSize, MinPartSize, MaxPartSize)
	}
	if opts.PartSize > opts.Pool.Limit() {
		return nil, fmt.Errorf("s3store: part size %d is larger than the upload memory budget %d", opts.PartSize, opts.Pool.Limit())
	}
	if opts.BuffersPerUpload == 0 {
		opts.BuffersPerUpload = 2
	}
	if opts.BuffersPerUpload < 2 {
		return nil, fmt.Errorf("s3store: buffers per upload %d, need at least 2", opts.BuffersPerUpload)
	}
	if opts.MaxBuffersPerUpload == 0 {
		opts.MaxBuffersPerUpload = max(5, opts.BuffersPerUpload)
	}
	if opts.MaxBuffersPerUpload < opts.BuffersPerUpload {
		return nil, fmt.Errorf("s3store: max buffers per upload %d is below the guaranteed %d", opts.MaxBuffersPerUpload, opts.BuffersPerUpload)
	}
	if opts.CopyLimit <= 0 || opts.CopyLimit > MaxCopyObject {
		opts.CopyLimit = MaxCopyObject
	}
	if opts.CopyPartSize == 0 {
		opts.CopyPartSize = copyPartSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{opts: opts}
	// The Store's own copy of the client counts its requests (Requests).
	s.client = s3.New(client.Options(), s.requests.addTo)
	s.aborter = newAborter(client, opts.Bucket, opts.AbortRetry, opts.Logger)
	return s, nil
}

// Check asks S3 whether the bucket exists and these credentials reach it.
func (s *Store) Check(ctx context.Context) error {
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.opts.Bucket}); err != nil {
		return fmt.Errorf("bucket %q: %w", s.opts.Bucket, classify(err))
	}
	return nil
}

// Close waits up to ctx for pending background aborts, trying each once more.
func (s *Store) Close(ctx context.Context) error {
	return s.aborter.close(ctx)
}

// PendingAborts is the number of multipart uploads whose abort failed and is
// being retried.
func (s *Store) PendingAborts() int { return s.aborter.pending() }

// Stat implements storage.Store.
func (s *Store) Stat(ctx context.Context, key string) (storage.Object, error) {
	if err := checkKey(key); err != nil {
		return storage.Object{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.opts.Bucket, Key: &key})
	if err != nil {
		if isNotFound(err) {
			return storage.Object{}, fmt.Errorf("stat %q: %w", key, storage.ErrNotExist)
		}
		return storage.Object{}, fmt.Errorf("stat %q: %w", key, classify(err))
	}
	return storage.Object{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// List implements storage.Store: ListObjectsV2, every page, Contents and
// CommonPrefixes merged in key order.
func (s *Store) List(ctx context.Context, prefix string, opts storage.ListOptions, fn func(storage.Object) error) error {
	in := &s3.ListObjectsV2Input{Bucket: &s.opts.Bucket, Prefix: &prefix}
	if !opts.Recursive {
		in.Delimiter = aws.String("/")
	}
	if opts.Limit > 0 && opts.Limit < 1000 {
		in.MaxKeys = aws.Int32(int32(opts.Limit))
	}
	count := 0
	pages := s3.NewListObjectsV2Paginator(s.client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %q: %w", prefix, classify(err))
		}
		entries := make([]storage.Object, 0, len(page.Contents)+len(page.CommonPrefixes))
		for _, o := range page.Contents {
			entries = append(entries, storage.Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)})
		}
		for _, p := range page.CommonPrefixes {
			entries = append(entries, storage.Object{Key: aws.ToString(p.Prefix), Prefix: true})
		}
		if len(page.CommonPrefixes) > 0 && len(page.Contents) > 0 {
			sort.Slice(entries, func(i, j int) bool { return entries[i].Key < entries[j].Key })
		}
		for _, e := range entries {
			if err := fn(e); err != nil {
				return err
			}
			count++
			if opts.Limit > 0 && count >= opts.Limit {
				return nil
			}
		}
	}
	return nil
}

// Open implements storage.Store with a ranged GetObject.
func (s *Store) Open(ctx context.Context, key string, offset int64) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	in := &s3.GetObjectInput{Bucket: &s.opts.Bucket, Key: &key}
	if offset > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("open %q: %w", key, storage.ErrNotExist)
		}
		if offset > 0 && httpStatus(err) == http.StatusRequestedRangeNotSatisfiable {
			// REST at (or past) the end: nothing left to send.
			if _, serr := s.Stat(ctx, key); serr != nil {
				return nil, serr
			}
			return io.NopCloser(strings.NewReader("")), nil
		}
		return nil, fmt.Errorf("open %q: %w", key, classify(err))
	}
	return out.Body, nil
}

// Delete implements storage.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.opts.Bucket, Key: &key}); err != nil {
		return fmt.Errorf("delete %q: %w", key, classify(err))
	}
	return nil
}

// checkKey refuses keys S3 cannot hold.
func checkKey(key string) error {
	if key == "" || len(key) > 1024 {
		return fmt.Errorf("%w: %d bytes (S3 keys are 1 to 1024 bytes)", storage.ErrInvalidKey, len(key))
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("%w: not valid UTF-8", storage.ErrInvalidKey)
	}
	return nil
}

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound") {
		return true
	}
	return httpStatus(err) == http.StatusNotFound
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// backgroundCtx is for clean-up calls that must run even when the request
// that started them was cancelled.
func backgroundCtx(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

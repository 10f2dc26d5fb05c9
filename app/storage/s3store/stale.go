package s3store

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// AbortStale aborts the incomplete multipart uploads in the bucket that were
// started before olderThan ago and have received no part since: what a
// gateway killed without a chance to abort (SIGKILL, a lost host) leaves
// behind, which S3 keeps, and bills, until someone aborts it. An upload that
// a task is still writing gets parts at least every few minutes, so it is
// never taken. It is the gateway's own backstop for buckets without the
// lifecycle rule (AbortIncompleteMultipartUpload) that the stack adds to the
// buckets it creates. It returns how many uploads it aborted.
func (s *Store) AbortStale(ctx context.Context, olderThan time.Duration) (int, error) {
	if s.opts.ResumeWindow > olderThan {
		return 0, fmt.Errorf("stale age %s is shorter than the resume window %s: pending uploads would be taken", olderThan, s.opts.ResumeWindow)
	}
	live, n, err := s.SweepPending(ctx)
	if err != nil {
		return 0, fmt.Errorf("sweep pending uploads: %w", err)
	}
	if n > 0 {
		s.opts.Logger.Info("discarded pending uploads whose resume window ended", "count", n)
	}
	cutoff := time.Now().Add(-olderThan)
	in := &s3.ListMultipartUploadsInput{Bucket: &s.opts.Bucket}
	aborted := 0
	for {
		out, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return aborted, fmt.Errorf("list incomplete multipart uploads: %w", err)
		}
		for _, u := range out.Uploads {
			if u.Initiated == nil || u.Initiated.After(cutoff) {
				continue
			}
			key, id := aws.ToString(u.Key), aws.ToString(u.UploadId)
			if live[id] {
				continue // kept for resuming
			}
			last, err := s.lastPartTime(ctx, key, id)
			if err != nil {
				return aborted, err
			}
			if last.After(cutoff) {
				continue // still being written
			}
			if err := s.aborter.abortNow(ctx, key, id); err != nil {
				return aborted, fmt.Errorf("abort stale upload of %q: %w", key, err)
			}
			aborted++
			s.opts.Logger.Info("aborted a stale incomplete multipart upload", "key", key, "upload_id", id,
				"initiated", u.Initiated.UTC().Format(time.RFC3339))
		}
		if !aws.ToBool(out.IsTruncated) {
			return aborted, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// lastPartTime is when the upload last received a part (zero if none).
func (s *Store) lastPartTime(ctx context.Context, key, uploadID string) (time.Time, error) {
	var last time.Time
	p := s3.NewListPartsPaginator(s.client, &s3.ListPartsInput{Bucket: &s.opts.Bucket, Key: &key, UploadId: &uploadID})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return last, fmt.Errorf("list parts of %q: %w", key, err)
		}
		for _, part := range out.Parts {
			if part.LastModified != nil && part.LastModified.After(last) {
				last = *part.LastModified
			}
		}
	}
	return last, nil
}

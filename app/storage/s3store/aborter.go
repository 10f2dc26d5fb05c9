package s3store

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

const abortTimeout = 15 * time.Second

// RetryPolicy bounds the background retries of AbortMultipartUpload.
type RetryPolicy struct {
	First time.Duration // first wait (default 1 s)
	Max   time.Duration // longest wait (default 1 min)
	For   time.Duration // give up after (default 24 h; the bucket's lifecycle rule is the backstop)
}

// aborter retries AbortMultipartUpload calls that failed, typically because
// S3 could not be reached when the upload had to be abandoned. An incomplete
// multipart upload is invisible but costs money until it is aborted.
type aborter struct {
	client *s3.Client
	bucket string
	policy RetryPolicy
	log    *slog.Logger

	mu      sync.Mutex
	waiting map[pendingAbort]*time.Timer
	closed  bool
}

type pendingAbort struct{ key, uploadID string }

func newAborter(client *s3.Client, bucket string, p RetryPolicy, log *slog.Logger) *aborter {
	if p.First <= 0 {
		p.First = time.Second
	}
	if p.Max <= 0 {
		p.Max = time.Minute
	}
	if p.For <= 0 {
		p.For = 24 * time.Hour
	}
	return &aborter{client: client, bucket: bucket, policy: p, log: log, waiting: map[pendingAbort]*time.Timer{}}
}

// abortNow aborts one multipart upload; an upload that no longer exists counts
// as aborted.
func (a *aborter) abortNow(ctx context.Context, key, uploadID string) error {
	_, err := a.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: &a.bucket, Key: &key, UploadId: &uploadID,
	})
	var api smithy.APIError
	if err != nil && errors.As(err, &api) && api.ErrorCode() == "NoSuchUpload" {
		return nil
	}
	return err
}

// abort aborts one multipart upload now (within abortTimeout, whatever the
// caller's context) and, if S3 cannot be reached, keeps trying in the
// background so that no incomplete upload is left behind. The error is the
// first attempt's.
func (a *aborter) abort(key, uploadID string) error {
	ctx, cancel := backgroundCtx(abortTimeout)
	defer cancel()
	err := a.abortNow(ctx, key, uploadID)
	if err != nil {
		a.retryLater(key, uploadID)
	}
	return err
}

// retryLater schedules background attempts until one succeeds or the policy's
// time is up.
func (a *aborter) retryLater(key, uploadID string) {
	p := pendingAbort{key, uploadID}
	start := time.Now()
	wait := a.policy.First
	var attempt func()
	attempt = func() {
		ctx, cancel := backgroundCtx(abortTimeout)
		err := a.abortNow(ctx, key, uploadID)
		cancel()
		a.mu.Lock()
		defer a.mu.Unlock()
		if _, ok := a.waiting[p]; !ok {
			return // done by close
		}
		switch {
		case err == nil:
			delete(a.waiting, p)
			a.log.Info("aborted incomplete multipart upload after retry", "key", key, "upload_id", uploadID)
		case time.Since(start) > a.policy.For || a.closed:
			delete(a.waiting, p)
			a.log.Error("giving up aborting multipart upload; the bucket lifecycle rule must remove it", "key", key, "upload_id", uploadID, "err", err)
		default:
			wait = min(wait*2, a.policy.Max)
			a.waiting[p] = time.AfterFunc(wait, attempt)
			a.log.Warn("abort multipart upload failed, will retry", "key", key, "upload_id", uploadID, "retry_in", wait.String(), "err", err)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.waiting[p] = time.AfterFunc(wait, attempt)
	a.log.Warn("abort multipart upload failed, will retry", "key", key, "upload_id", uploadID, "retry_in", wait.String())
}

func (a *aborter) pending() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.waiting)
}

// close stops the timers and tries every pending abort once more.
func (a *aborter) close(ctx context.Context) error {
	a.mu.Lock()
	a.closed = true
	todo := make([]pendingAbort, 0, len(a.waiting))
	for p, t := range a.waiting {
		t.Stop()
		todo = append(todo, p)
	}
	a.waiting = map[pendingAbort]*time.Timer{}
	a.mu.Unlock()
	var errs []error
	for _, p := range todo {
		if err := a.abortNow(ctx, p.key, p.uploadID); err != nil {
			a.log.Error("could not abort multipart upload before exit; the bucket lifecycle rule must remove it", "key", p.key, "upload_id", p.uploadID, "err", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

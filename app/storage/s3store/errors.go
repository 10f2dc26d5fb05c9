package s3store

import (
	"context"
	"errors"
	"net"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	"github.com/ftps3/ftps3/app/storage"
)

// classify marks errors that a later try may not get (S3 unreachable,
// overloaded, throttling, a timeout) as storage.ErrUnavailable, keeping the
// SDK's error for the log.
func classify(err error) error {
	if err == nil || !transient(err) {
		return err
	}
	return unavailable{err}
}

type unavailable struct{ err error }

func (u unavailable) Error() string   { return u.err.Error() }
func (u unavailable) Unwrap() []error { return []error{storage.ErrUnavailable, u.err} }

func transient(err error) bool {
	var maxAttempts *retry.MaxAttemptsError
	var netErr net.Error
	var api smithy.APIError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &maxAttempts), errors.As(err, &netErr):
		return true
	case errors.As(err, &api):
		switch api.ErrorCode() {
		case "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
			"InternalError", "ServiceUnavailable", "XMinioServerNotInitialized", "XMinioStorageFull":
			return true
		}
	}
	status := httpStatus(err)
	if status == http.StatusTooManyRequests || status >= 500 {
		return true
	}
	// A connection refused or reset arrives wrapped by the SDK's transport.
	var opErr *net.OpError
	return errors.As(err, &opErr)
}

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
	switch {
	case err == nil:
		return nil
	case mismatched(err):
		return mismatch{err}
	case transient(err):
		return unavailable{err}
	}
	return err
}

// mismatch is S3 refusing bytes whose checksum differs from the one sent.
type mismatch struct{ err error }

func (m mismatch) Error() string   { return m.err.Error() }
func (m mismatch) Unwrap() []error { return []error{storage.ErrChecksumMismatch, m.err} }

func mismatched(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch", "XAmzContentSHA256Mismatch", "InvalidChecksum":
			return true
		}
	}
	return false
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

// accessDenied: the credentials lack a permission (403).
func accessDenied(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "AccessDenied" {
		return true
	}
	return httpStatus(err) == http.StatusForbidden
}

// refusedArgument: the server does not take a header or value it was sent
// (400 InvalidArgument, InvalidRequest; 501 NotImplemented).
func refusedArgument(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "InvalidArgument", "InvalidRequest", "NotImplemented":
			return true
		}
	}
	return httpStatus(err) == http.StatusNotImplemented
}

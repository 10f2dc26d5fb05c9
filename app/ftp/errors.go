package ftp

import (
	"errors"
	"fmt"
	"io/fs"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/ftps3/ftps3/app/objfs"
	"github.com/ftps3/ftps3/app/storage"
)

// What a client is told when an operation fails. The view's errors name the
// client's own path and say what is wrong; anything from the store below is
// replaced by a plain sentence, since its text carries key prefixes, request
// ids and SDK operation names: the log keeps it. The reply code follows the
// kind of failure: 553 for a name that cannot be stored, 450 (451 for a
// transfer) when the store is unavailable or found the bytes changed on
// their way and a retry may work, 504 for a checksum that cannot be
// answered as asked (hash.go), 554 for a REST offset the transfer cannot
// start at (or an APPE that would not continue where SIZE said), 450 for
// an upload another session is resuming (resume.go), 550 otherwise.

// clientError is an error as the client sees it.
type clientError struct {
	msg   string
	code  int   // the reply code it calls for (0: the library's default)
	cause error // for errors.Is
}

func (e *clientError) Error() string { return e.msg }

// Unwrap lets the library map a bad name to 553 itself where it can.
func (e *clientError) Unwrap() []error {
	if e.code == 553 {
		return []error{e.cause, ftpserver.ErrFileNameNotAllowed}
	}
	return []error{e.cause}
}

// forClient turns an error of the view into what the client may see, logs
// the detail that is withheld, and tells the control connection which code
// the library's 550 reply must carry. transfer picks 451 over 450.
func (ss *session) forClient(err error, transfer bool) error {
	if err == nil {
		return nil
	}
	op, p := "", ""
	var pe *fs.PathError
	if errors.As(err, &pe) {
		op, p = pe.Op, pe.Path
	}
	ce := &clientError{cause: err, msg: err.Error()}
	var se *objfs.StoreError
	switch {
	case errors.Is(err, objfs.ErrInvalidName):
		ce.code = 553
	case errors.Is(err, storage.ErrInvalidKey):
		ce.code = 553
		ce.msg = fmt.Sprintf("%s %s: the name cannot be stored", op, p)
	case errors.Is(err, storage.ErrUnavailable):
		ce.code = 450
		if transfer {
			ce.code = 451
		}
		ce.msg = fmt.Sprintf("%s %s: the storage service is unavailable: try again later", op, p)
	case errors.Is(err, storage.ErrChecksumMismatch):
		ce.code = 450
		if transfer {
			ce.code = 451
		}
		ce.msg = fmt.Sprintf("%s %s: %v", op, p, errChanged)
	case errors.Is(err, errWholeFilesOnly), errors.Is(err, errHashNotOffered):
		ce.code = 504
	case errors.Is(err, objfs.ErrBadOffset) && pe != nil:
		ce.code = 554 // RFC 3659: an invalid REST parameter for this transfer
		ce.msg = badOffsetMessage(op, p, pe)
	case errors.Is(err, errMovedSinceSize):
		ce.code = 554
	case errors.Is(err, objfs.ErrNotSupported) && op == "upload": // a REST offset, and a store that cannot resume
		ce.code = 554
		ce.msg = fmt.Sprintf("%s %s: %v", op, p, errNoResume)
	case errors.Is(err, objfs.ErrResuming):
		ce.code = 450 // busy: another session resumes it now
	case errors.As(err, &se):
		ce.msg = fmt.Sprintf("%s %s: the storage service refused the request", op, p)
	}
	if pe == nil && ce.msg == err.Error() { // not the view's: say nothing of it
		ce.msg = "the storage service refused the request"
	}
	if ce.msg != err.Error() {
		ss.log.Warn("operation failed", "op", op, "path", p, "err", err)
	}
	if ce.code != 0 && ss.ctrl != nil {
		ss.ctrl.setReplyCode(ce.code)
	}
	return ce
}

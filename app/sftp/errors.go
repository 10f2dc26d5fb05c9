package sftp

import (
	"errors"
	"io/fs"

	"github.com/pkg/sftp"

	"github.com/ftps3/ftps3/app/objfs"
	"github.com/ftps3/ftps3/app/storage"
)

// What a client is told when a transfer fails; the detail goes to the log.
var (
	errStorage  = errors.New("the storage service failed: the upload was discarded and nothing was stored; try again")
	errMismatch = errors.New("the storage service received other bytes than were sent (checksum mismatch): the upload was discarded and nothing was stored; upload the file again")
	errDraining = errors.New("the server is shutting down: try again in a moment")
	errSymlink  = errors.New("symbolic and hard links are not supported on object storage")
	errExisting = errors.New("writing into an existing file is not supported on object storage: upload the whole file (open it with truncation, as sftp put does) or append to it (open it to append, as sftp put -a does)")
	errSetSize  = errors.New("changing a file's size is not supported on object storage: upload the whole file")
)

// storageFailure is what the client is told when the store fails an
// upload (the cause goes to the log).
func storageFailure(cause error) error {
	if errors.Is(cause, storage.ErrChecksumMismatch) {
		return errMismatch
	}
	return errStorage
}

// statusError is an error whose message the client sees, with the SFTP
// status code pkg/sftp finds in it by errors.As.
type statusError struct {
	err  error
	msg  string // what the client is told ("" for err's text)
	code error  // one of sftp.ErrSSHFx*
}

func (e *statusError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	return e.err.Error()
}
func (e *statusError) Unwrap() []error {
	return []error{e.code, e.err}
}

// status gives err the SFTP status code that says best what went wrong,
// keeping its message: a missing file, a permission, an unsupported
// operation, or a failure.
func status(err error) error {
	if err == nil {
		return nil
	}
	var code error
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, objfs.ErrNoParent):
		code = sftp.ErrSSHFxNoSuchFile
	case errors.Is(err, objfs.ErrReadOnly), errors.Is(err, fs.ErrPermission):
		code = sftp.ErrSSHFxPermissionDenied
	case errors.Is(err, objfs.ErrNotSupported), errors.Is(err, errSymlink), errors.Is(err, errExisting), errors.Is(err, errSetSize):
		code = sftp.ErrSSHFxOpUnsupported
	case errors.Is(err, storage.ErrInvalidKey):
		code = sftp.ErrSSHFxBadMessage
	default:
		code = sftp.ErrSSHFxFailure
	}
	// A failure of the store below the view has keys, request ids and SDK
	// names in its text: the client gets a plain sentence (the log keeps
	// the detail, see handlers.go).
	msg := ""
	var se *objfs.StoreError
	if errors.As(err, &se) {
		op, p := "", ""
		var pe *fs.PathError
		if errors.As(err, &pe) {
			op, p = pe.Op+" ", pe.Path+": "
		}
		msg = op + p + "the storage service refused the request"
		if errors.Is(err, storage.ErrUnavailable) {
			msg = op + p + "the storage service is unavailable: try again later"
		}
	}
	return &statusError{err: err, msg: msg, code: code}
}

// Package storage defines the object store the FTP side needs: stat, paged
// listing with a delimiter, ranged reads, streaming writes that either commit
// or abort, delete and server-side copy. Keys are S3-style: no leading slash,
// "/" separates path segments.
//
// Implementations: s3store (any S3-compatible endpoint) and filestore (a local
// directory, the embedded default).
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/ftps3/ftps3/app/storage/digest"
)

// Errors shared by every implementation, tested with errors.Is. ErrNotExist
// is fs.ErrNotExist itself, so a missing key reads as a missing file too.
var (
	// ErrNotExist: no object has that key.
	ErrNotExist = fs.ErrNotExist
	// ErrAborted: the upload was aborted before it was committed.
	ErrAborted = errors.New("upload aborted")
	// ErrInvalidKey: the key cannot be stored (empty, too long, bad bytes).
	ErrInvalidKey = errors.New("invalid object key")
	// ErrUnavailable: the store could not be reached or is overloaded (a
	// timeout, throttling, a server error): the same request may work later.
	ErrUnavailable = errors.New("storage unavailable")
	// ErrChecksumMismatch: the store computed another checksum than the one
	// sent with the bytes (they changed on the way): nothing was stored,
	// and sending them again may work.
	ErrChecksumMismatch = errors.New("the stored bytes would differ from those received")
)

// Object describes one stored object, or a common prefix in a delimited listing.
type Object struct {
	Key     string // full key; for a prefix it ends with "/"
	Size    int64
	ModTime time.Time
	Prefix  bool // a common prefix ("directory") rather than an object
}

// ListOptions selects what List returns.
type ListOptions struct {
	// Recursive lists every key under the prefix; otherwise keys are grouped
	// at the next "/" into prefixes, as ListObjectsV2 with Delimiter "/" does.
	Recursive bool
	// Limit stops the listing after that many entries (0: no limit).
	Limit int
}

// Store is the object store behind the gateway.
type Store interface {
	// Stat returns the object with exactly this key, or ErrNotExist.
	Stat(ctx context.Context, key string) (Object, error)
	// List calls fn for each entry under prefix, in key order, page by page.
	// Returning an error from fn stops the listing with that error.
	List(ctx context.Context, prefix string, opts ListOptions, fn func(Object) error) error
	// Open reads the object from offset to its end.
	Open(ctx context.Context, key string, offset int64) (io.ReadCloser, error)
	// Create starts a streaming write. Nothing is visible under key until
	// Commit succeeds; after Abort (or a failed Commit) the previous object
	// under key, if any, is untouched.
	Create(ctx context.Context, key string) (Upload, error)
	// Delete removes the object; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Copy copies src to dst on the server side (any size).
	Copy(ctx context.Context, src, dst string) error
}

// Upload is a write in progress.
type Upload interface {
	io.Writer
	// Commit makes the whole written content visible under the key at once.
	Commit(ctx context.Context) error
	// Abort discards everything written. It is safe to call after a failed
	// Write or Commit, and more than once.
	Abort(ctx context.Context) error
	// Written is the number of bytes accepted so far.
	Written() int64
}

// Summer is a Store that records digests with every object it writes (the
// algorithms chosen when the store is made) and tells them later without
// reading the object again.
type Summer interface {
	// Sums returns the digests known for the whole object: those recorded
	// at its upload, or a full-object checksum the store keeps itself. An
	// object with none gives an empty map; a missing key ErrNotExist.
	Sums(ctx context.Context, key string) (digest.Sums, error)
}

// SummedUpload is an Upload that computed digests of what it wrote; after
// Commit, Sums returns them (nil when none were asked for).
type SummedUpload interface {
	Sums() digest.Sums
}

// Resumer is a Store that can keep a cut upload as a pending upload and
// continue it later, from this process or another: the parts the store
// already holds stay, nothing is visible under the key until the resumed
// upload commits.
type Resumer interface {
	// Pending returns the pending upload of key, or ErrNotExist.
	Pending(ctx context.Context, key string) (Pending, error)
	// Resume continues the pending upload of key: offset must be its
	// Offset (else an *OffsetError); if another session is resuming it,
	// ErrResuming. The Upload's Written starts at offset.
	Resume(ctx context.Context, key string, offset int64) (Upload, error)
	// Discard drops the pending upload of key, if there is one.
	Discard(ctx context.Context, key string) error
}

// Pending describes a pending upload.
type Pending struct {
	Key       string
	Offset    int64     // bytes the store holds: where a resume starts
	Suspended time.Time // when it was cut
	Expires   time.Time // when it is discarded unless resumed
}

// SuspendableUpload is an Upload that can be kept for resuming when its
// client is cut off. Suspend keeps what the store holds (an Abort when
// there is nothing worth keeping or resuming is off) and ends the Upload.
type SuspendableUpload interface {
	Suspend(ctx context.Context) error
}

// ErrResuming: another session is resuming this pending upload.
var ErrResuming = errors.New("another session is resuming this upload")

// OffsetError: a resume asked for another offset than the pending upload's.
type OffsetError struct{ Want, Got int64 }

func (e *OffsetError) Error() string {
	return fmt.Sprintf("the upload can resume at byte %d only (asked for %d)", e.Want, e.Got)
}

package objfs

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

// ErrInvalidName refuses a name the store cannot hold or that a client would
// misread: the front doors answer it as a permanent error (FTP 553).
var ErrInvalidName = errors.New("invalid name")

// maxKey is S3's limit on a key's length, in bytes.
const maxKey = 1024

// checkPath refuses client paths that no operation may use: CR, LF and NUL
// would let a name forge lines in listings and replies, and S3 keys must be
// valid UTF-8.
func checkPath(p string) error {
	if strings.ContainsAny(p, "\r\n\x00") {
		return fmt.Errorf("%w: CR, LF and NUL are not allowed in names", ErrInvalidName)
	}
	if !utf8.ValidString(p) {
		return fmt.Errorf("%w: names must be valid UTF-8", ErrInvalidName)
	}
	return nil
}

// ReservedPrefix is the gateway's own corner of the bucket (pending uploads'
// state): no client path reaches it and listings leave it out.
const ReservedPrefix = ".ftps3/"

func reservedKey(key string) bool {
	return key+"/" == ReservedPrefix || strings.HasPrefix(key, ReservedPrefix)
}

// checkPath is checkPath for this view's paths, which also may not reach
// the reserved prefix.
func (v *View) checkPath(p string) error {
	if err := checkPath(p); err != nil {
		return err
	}
	if reservedKey(v.key(p)) {
		return fmt.Errorf("%w: %s is reserved for the gateway", ErrInvalidName, strings.TrimSuffix(ReservedPrefix, "/"))
	}
	return nil
}

// checkNew refuses what may not be created at p: the name of a directory
// marker (the file would be hidden from listings and removed with its
// directory) and keys longer than S3 allows.
func (v *View) checkNew(p string) error {
	if err := v.checkPath(p); err != nil {
		return err
	}
	key := v.key(p)
	if len(key)+len(v.fs.suffix) > maxKey {
		return fmt.Errorf("%w: the name is too long (S3 keys are at most %d bytes, the home prefix included)", ErrInvalidName, maxKey)
	}
	base := path.Base(Clean(p))
	if marker := strings.TrimPrefix(v.fs.suffix, "/"); !strings.Contains(marker, "/") && marker != "" &&
		(v.fs.suffix[0] == '/' && base == marker || v.fs.suffix[0] != '/' && strings.HasSuffix(base, marker)) {
		return fmt.Errorf("%w: %q is how directories are marked in this store", ErrInvalidName, marker)
	}
	return nil
}

// listable reports whether a stored name can be shown in a listing: names
// with CR, LF or NUL (written by other tools) are left out, so that no
// listing line can be forged.
func listable(name string) bool {
	return !strings.ContainsAny(name, "\r\n\x00")
}

package filestore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"

	"github.com/ftps3/ftps3/app/storage"
	"github.com/ftps3/ftps3/app/storage/digest"
)

// The digests of an upload are kept in extended attributes of its file
// ("user.ftps3.sha256"): they follow the file through renames and stay out
// of listings. On a file system without user attributes none are recorded.
const xattrPrefix = "user.ftps3."

var _ storage.Summer = (*Store)(nil)

func recordSums(f *os.File, sums digest.Sums) {
	for a, v := range sums {
		_ = unix.Fsetxattr(int(f.Fd()), xattrPrefix+string(a), []byte(v), 0)
	}
}

// Sums implements storage.Summer.
func (s *Store) Sums(_ context.Context, key string) (digest.Sums, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("sums of %q: %w", key, storage.ErrNotExist)
		}
		return nil, fmt.Errorf("sums of %q: %w", key, err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("sums of %q: %w", key, storage.ErrNotExist)
	}
	sums := digest.Sums{}
	buf := make([]byte, 128)
	for _, a := range digest.All {
		n, err := unix.Getxattr(p, xattrPrefix+string(a), buf)
		if err == nil && digest.Valid(a, string(buf[:n])) {
			sums[a] = string(buf[:n])
		}
	}
	return sums, nil
}

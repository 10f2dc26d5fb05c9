package objfs

import (
	"io/fs"
	"time"
)

// FileInfo is what a listing, a stat or a size query shows of a file or a
// directory. It implements fs.FileInfo.
type FileInfo struct {
	name    string
	size    int64
	modTime time.Time
	dir     bool
}

var _ fs.FileInfo = FileInfo{}

func (f FileInfo) Name() string { return f.name }
func (f FileInfo) Size() int64  { return f.size }
func (f FileInfo) Mode() fs.FileMode {
	if f.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (f FileInfo) ModTime() time.Time { return f.modTime }
func (f FileInfo) IsDir() bool        { return f.dir }
func (f FileInfo) Sys() any           { return nil }

package ftp

import (
	"io/fs"
	"time"
)

// fileInfo is what LIST, MLSD, SIZE and MDTM show of an object or directory.
type fileInfo struct {
	name    string
	size    int64
	modTime time.Time
	dir     bool
}

func (f fileInfo) Name() string { return f.name }
func (f fileInfo) Size() int64  { return f.size }
func (f fileInfo) Mode() fs.FileMode {
	if f.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (f fileInfo) ModTime() time.Time { return f.modTime }
func (f fileInfo) IsDir() bool        { return f.dir }
func (f fileInfo) Sys() any           { return nil }

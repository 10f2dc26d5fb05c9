package filestore

import "syscall"

// syscallNotDir: listing "a/b/" when "a" or "a/b" is a file.
var syscallNotDir = syscall.ENOTDIR

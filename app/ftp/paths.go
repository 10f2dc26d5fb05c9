package ftp

import (
	"path"
	"strings"
)

// Path mapping: an FTP path (absolute, as ftpserverlib passes it) becomes a
// key under the user's home prefix. path.Clean resolves "." and ".." and folds
// repeated slashes; since the path is rooted, ".." stops at "/", so no path
// maps outside the home.

// cleanPath returns the rooted, cleaned form of an FTP path.
func cleanPath(p string) string {
	return path.Clean("/" + p)
}

// objectKey is the key of the file at FTP path p ("" for the root).
func objectKey(home, p string) string {
	return home + strings.TrimPrefix(cleanPath(p), "/")
}

// dirPrefix is the key prefix of the entries inside the directory p.
func dirPrefix(home, p string) string {
	p = cleanPath(p)
	if p == "/" {
		return home
	}
	return objectKey(home, p) + "/"
}

// markerKey is the key of the marker object of directory p.
func markerKey(home, p, suffix string) string {
	return objectKey(home, p) + suffix
}

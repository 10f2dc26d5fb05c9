package objfs

import (
	"path"
	"strings"
)

// Path mapping: a client path (absolute or relative to the root, as the
// front doors pass it) becomes a key under the user's home prefix. path.Clean
// resolves "." and ".." and folds repeated slashes; since the path is rooted,
// ".." stops at "/", so no path maps outside the home.

// Clean returns the rooted, cleaned form of a client path.
func Clean(p string) string {
	return path.Clean("/" + p)
}

// objectKey is the key of the file at path p ("" for the root).
func objectKey(home, p string) string {
	return home + strings.TrimPrefix(Clean(p), "/")
}

// dirPrefix is the key prefix of the entries inside the directory p.
func dirPrefix(home, p string) string {
	p = Clean(p)
	if p == "/" {
		return home
	}
	return objectKey(home, p) + "/"
}

// markerKey is the key of the marker object of directory p.
func markerKey(home, p, suffix string) string {
	return objectKey(home, p) + suffix
}

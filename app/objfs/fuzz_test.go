package objfs

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// Any client path maps to a key inside the home, and a path the view accepts
// yields a key S3 can hold and no listing line can be forged from.
func FuzzPathMapping(f *testing.F) {
	for _, seed := range []string{"/a/b.txt", "../../etc/passwd", "a//b/./c", "/..", "x\r\ny", "\xff", "a/.s3keep", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, p string) {
		for _, home := range []string{"", "users/al/"} {
			c := Clean(p)
			if !strings.HasPrefix(c, "/") || strings.Contains(c+"/", "/../") || strings.Contains(c+"/", "/./") {
				t.Fatalf("Clean(%q) = %q", p, c)
			}
			key := objectKey(home, p)
			if !strings.HasPrefix(key, home) || strings.Contains("/"+key+"/", "/../") {
				t.Fatalf("objectKey(%q, %q) = %q leaves the home", home, p, key)
			}
			if prefix := dirPrefix(home, p); !strings.HasPrefix(prefix, home) {
				t.Fatalf("dirPrefix(%q, %q) = %q leaves the home", home, p, prefix)
			}
			if checkPath(p) == nil && (strings.ContainsAny(key, "\r\n\x00") || !utf8.ValidString(key)) {
				t.Fatalf("accepted path %q maps to key %q", p, key)
			}
		}
	})
}

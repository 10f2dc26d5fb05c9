package objfs

import "testing"

func TestPathMappingStaysInHome(t *testing.T) {
	cases := []struct{ home, in, key, prefix string }{
		{"", "/a/b.txt", "a/b.txt", "a/b.txt/"},
		{"", "/", "", ""},
		{"", "/../../etc/passwd", "etc/passwd", "etc/passwd/"},
		{"users/al/", "/x//y/./z", "users/al/x/y/z", "users/al/x/y/z/"},
		{"users/al/", "/..", "users/al/", "users/al/"},
		{"users/al/", "/a/../../../b", "users/al/b", "users/al/b/"},
		{"users/al/", "a", "users/al/a", "users/al/a/"},
		{"h/", `/it's  "q" 🚀`, `h/it's  "q" 🚀`, `h/it's  "q" 🚀/`},
	}
	for _, c := range cases {
		if got := objectKey(c.home, c.in); got != c.key {
			t.Errorf("objectKey(%q, %q) = %q, want %q", c.home, c.in, got, c.key)
		}
		if got := dirPrefix(c.home, c.in); got != c.prefix && !(c.key == c.home && got == c.home) {
			t.Errorf("dirPrefix(%q, %q) = %q, want %q", c.home, c.in, got, c.prefix)
		}
	}
	if got := markerKey("h/", "/d", "/.s3keep"); got != "h/d/.s3keep" {
		t.Errorf("markerKey = %q", got)
	}
}

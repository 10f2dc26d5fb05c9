package digest

import (
	"crypto/md5" //nolint:gosec // test
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]string{
		"sha256": "sha256", "SHA-256, md5": "sha256,md5", "md5,sha1,md5": "md5,sha1", "off": "",
	} {
		algs, err := Parse(in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		var got []string
		for _, a := range algs {
			got = append(got, string(a))
		}
		if strings.Join(got, ",") != want {
			t.Errorf("Parse(%q) = %v, want %s", in, got, want)
		}
	}
	for _, bad := range []string{"crc32", "sha512", "", "sha256,"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestHasherMatchesOnePass(t *testing.T) {
	data := []byte(strings.Repeat("ftps3 ", 100000))
	h := New([]Algorithm{SHA256, MD5})
	for i := 0; i < len(data); i += 4093 { // written in pieces, as a stream
		h.Write(data[i:min(i+4093, len(data))])
	}
	s256 := sha256.Sum256(data)
	m5 := md5.Sum(data) //nolint:gosec // test
	sums := h.Sums()
	if sums[SHA256] != hex.EncodeToString(s256[:]) || sums[MD5] != hex.EncodeToString(m5[:]) {
		t.Fatalf("sums %v do not match the one-pass digests", sums)
	}
	if _, ok := sums[SHA1]; ok {
		t.Fatal("SHA-1 reported though not asked for")
	}
	if !Valid(SHA256, sums[SHA256]) || Valid(MD5, sums[SHA256]) || Valid(SHA1, "XYZ") {
		t.Fatal("Valid misjudges digests")
	}
	var none *Hasher
	if n, _ := none.Write(data); n != len(data) || none.Sums() != nil {
		t.Fatal("a nil Hasher must accept writes and report nothing")
	}
}

// BenchmarkDigest gives each algorithm's cost per byte on this machine
// (s/GiB = 1024 / MB/s as printed).
func BenchmarkDigest(b *testing.B) {
	buf := make([]byte, 1<<20)
	for _, a := range All {
		b.Run(string(a), func(b *testing.B) {
			h := New([]Algorithm{a})
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				h.Write(buf)
			}
		})
	}
}

func TestStateContinues(t *testing.T) {
	data := []byte(strings.Repeat("resumed upload ", 50000))
	whole := New(All)
	whole.Write(data)
	first := New(All)
	first.Write(data[:300001])
	st, err := first.State()
	if err != nil {
		t.Fatal(err)
	}
	rest, err := Resume(All, st)
	if err != nil {
		t.Fatal(err)
	}
	rest.Write(data[300001:])
	if fmt.Sprint(rest.Sums()) != fmt.Sprint(whole.Sums()) {
		t.Fatalf("continued %v, whole %v", rest.Sums(), whole.Sums())
	}
	if _, err := Resume([]Algorithm{SHA256, MD5}, State{SHA256: st[SHA256]}); err == nil {
		t.Fatal("a state without MD5 resumed an MD5")
	}
}

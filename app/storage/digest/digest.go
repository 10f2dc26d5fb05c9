// Package digest computes the checksums the gateway records with every
// upload (SHA-256 by default, MD5 and SHA-1 when asked) in one pass as the
// bytes stream through, and names them the way configuration, object tags
// and clients do.
package digest

import (
	"crypto/md5"  //nolint:gosec // a checksum clients ask for, not a security measure
	"crypto/sha1" //nolint:gosec // idem
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"fmt"
	"hash"
	"slices"
	"strings"
)

// Algorithm is a checksum algorithm, named as in configuration ("sha256").
type Algorithm string

// The algorithms an upload can record.
const (
	SHA256 Algorithm = "sha256"
	SHA1   Algorithm = "sha1"
	MD5    Algorithm = "md5"
)

// All lists the algorithms in the order they are reported.
var All = []Algorithm{SHA256, SHA1, MD5}

// Label is the name clients use: "SHA-256", "SHA-1", "MD5".
func (a Algorithm) Label() string {
	switch a {
	case SHA256:
		return "SHA-256"
	case SHA1:
		return "SHA-1"
	case MD5:
		return "MD5"
	}
	return strings.ToUpper(string(a))
}

func (a Algorithm) newHash() hash.Hash {
	switch a {
	case SHA1:
		return sha1.New() //nolint:gosec // see import
	case MD5:
		return md5.New() //nolint:gosec // see import
	}
	return sha256.New()
}

// Parse reads a CHECKSUMS value: a comma-separated list of sha256, sha1 and
// md5, or "off" (none).
func Parse(s string) ([]Algorithm, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "off" || s == "none" {
		return nil, nil
	}
	var algs []Algorithm
	for _, f := range strings.Split(s, ",") {
		f = strings.ReplaceAll(strings.TrimSpace(f), "-", "")
		a := Algorithm(f)
		if !slices.Contains(All, a) {
			return nil, fmt.Errorf("unknown checksum %q (use sha256, sha1, md5, or off)", f)
		}
		if !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	return algs, nil
}

// Sums are the hex digests (lower case) of one whole object, by algorithm.
type Sums map[Algorithm]string

// Hasher computes several digests in one pass: write the content to it.
type Hasher struct {
	algs   []Algorithm
	hashes []hash.Hash
}

// New returns a Hasher for algs (nil if there are none).
func New(algs []Algorithm) *Hasher {
	if len(algs) == 0 {
		return nil
	}
	h := &Hasher{algs: algs}
	for _, a := range algs {
		h.hashes = append(h.hashes, a.newHash())
	}
	return h
}

// Write adds p to every digest; it never fails. A nil Hasher ignores p.
func (h *Hasher) Write(p []byte) (int, error) {
	if h == nil {
		return len(p), nil
	}
	for _, x := range h.hashes {
		x.Write(p)
	}
	return len(p), nil
}

// Sums returns the digests of what was written so far.
func (h *Hasher) Sums() Sums {
	if h == nil {
		return nil
	}
	s := make(Sums, len(h.algs))
	for i, a := range h.algs {
		s[a] = hex.EncodeToString(h.hashes[i].Sum(nil))
	}
	return s
}

// Raw returns the binary digest of a, if it is computed.
func (h *Hasher) Raw(a Algorithm) ([]byte, bool) {
	if h == nil {
		return nil, false
	}
	for i, x := range h.algs {
		if x == a {
			return h.hashes[i].Sum(nil), true
		}
	}
	return nil, false
}

// Valid reports whether v looks like a hex digest of a (so that a stored
// value someone else wrote is never passed on if it is not one).
func Valid(a Algorithm, v string) bool {
	n := map[Algorithm]int{SHA256: 64, SHA1: 40, MD5: 32}[a]
	if len(v) != n {
		return false
	}
	_, err := hex.DecodeString(v)
	return err == nil && strings.ToLower(v) == v
}

// State is the hashing state after some bytes, to be continued later
// (crypto's hashes marshal their state): by algorithm.
type State map[Algorithm][]byte

// State captures the digests' state now (nil for a nil Hasher).
func (h *Hasher) State() (State, error) {
	if h == nil {
		return nil, nil
	}
	st := State{}
	for i, a := range h.algs {
		m, ok := h.hashes[i].(encoding.BinaryMarshaler)
		if !ok {
			return nil, fmt.Errorf("%s: state cannot be saved", a)
		}
		b, err := m.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a, err)
		}
		st[a] = b
	}
	return st, nil
}

// Resume returns a Hasher for algs that continues from st, which must hold
// every one of them.
func Resume(algs []Algorithm, st State) (*Hasher, error) {
	h := New(algs)
	if h == nil {
		return nil, nil
	}
	for i, a := range h.algs {
		b, ok := st[a]
		if !ok {
			return nil, fmt.Errorf("no saved %s state", a.Label())
		}
		if err := h.hashes[i].(encoding.BinaryUnmarshaler).UnmarshalBinary(b); err != nil {
			return nil, fmt.Errorf("%s: %w", a.Label(), err)
		}
	}
	return h, nil
}

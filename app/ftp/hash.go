package ftp

import (
	"bytes"
	"errors"
	"io/fs"
	"regexp"
	"strings"
	"sync"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/ftps3/ftps3/app/objfs"
	"github.com/ftps3/ftps3/app/storage/digest"
)

// Checksums over FTP: HASH (draft-bryan-ftpext-hash) and the older XSHA256,
// XSHA1 (XSHA), XMD5 and MD5, answered from the digests recorded when the
// file was uploaded (objfs.View.Checksum), never by reading the file unless
// the view is set to compute missing ones. ftpserverlib parses the commands
// and calls ComputeHash after a Stat; what it gets wrong for FTPS clients is
// fixed on the way in (commands.go) and out (replies.go) with the helpers
// below:
//
//   - a file name with a space or a quote is quoted before the library sees
//     it, since it splits its argument at spaces (the name would be cut);
//   - Stat resolves a relative name from the working directory (the library
//     passes HASH's name to it as sent, but the absolute one to ComputeHash);
//   - OPTS HASH of an algorithm no upload records (CRC32, SHA-512) or of
//     any unknown one: 501, selection unchanged, as the draft says; a name
//     in lower case is accepted (the draft compares case-insensitively);
//   - XCRC and XSHA512: 502, they are not offered;
//   - FEAT: the library's hash line lacks its "HASH " feature name (clients
//     would not see the feature) and lists CRC32 and SHA-512; it becomes
//     " HASH SHA-256*;SHA-1;MD5", and the XCRC and XSHA512 lines go;
//   - the "Computing ... digest" line the library puts before each answer is
//     dropped: the answer is the one line the draft shows ("213 SHA-256
//     0-49 <hex> name", or "250 <hex>" for XSHA256 and the like), and
//     nothing is being computed.
//
// Whole files only: a range other than the whole file is refused (504).

// hashAlgorithms are the library's algorithms that uploads record.
var hashAlgorithms = map[ftpserver.HASHAlgo]digest.Algorithm{
	ftpserver.HASHAlgoSHA256: digest.SHA256,
	ftpserver.HASHAlgoSHA1:   digest.SHA1,
	ftpserver.HASHAlgoMD5:    digest.MD5,
}

var (
	errWholeFilesOnly = errors.New("checksums are of whole files only: ranges are not supported")
	errHashNotOffered = errors.New("this checksum is not recorded: ask for SHA-256, SHA-1 or MD5")
)

// hashStat is the size of the file the library's Stat found just before it
// calls ComputeHash with the range to check.
type hashStat struct {
	mu   sync.Mutex
	path string
	size int64
}

func (h *hashStat) remember(p string, size int64) {
	h.mu.Lock()
	h.path, h.size = p, size
	h.mu.Unlock()
}

func (h *hashStat) sizeOf(p string) (int64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.size, h.path == p
}

// ComputeHash implements ftpserver.ClientDriverExtensionHasher: the
// recorded digest of the whole file name.
func (ss *session) ComputeHash(name string, algo ftpserver.HASHAlgo, start, end int64) (string, error) {
	p := objfs.Clean(name)
	a, ok := hashAlgorithms[algo]
	if !ok {
		return "", ss.forClient(&fs.PathError{Op: "checksum", Path: p, Err: errHashNotOffered}, false)
	}
	ctx, cancel := opCtx()
	defer cancel()
	size, ok := ss.hashStat.sizeOf(p)
	if !ok && start == 0 {
		fi, err := ss.view.Stat(ctx, p)
		if err != nil {
			return "", ss.forClient(err, false)
		}
		size = fi.Size()
	}
	if start != 0 || end != size {
		return "", ss.forClient(&fs.PathError{Op: "checksum", Path: p, Err: errWholeFilesOnly}, false)
	}
	sum, err := ss.view.Checksum(ctx, p, a)
	if err != nil {
		return "", ss.forClient(err, false)
	}
	ss.log.Debug("checksum answered", "path", p, "algorithm", a.Label())
	return sum, nil
}

// hashLabels are the names OPTS HASH and FEAT use, in FEAT's order.
func hashLabels() []string {
	out := make([]string, len(digest.All))
	for i, a := range digest.All {
		out[i] = a.Label()
	}
	return out
}

// hashRange is an XSHA256-style argument ending in a byte range.
var hashRange = regexp.MustCompile(`^(.+?) +([0-9]+) +([0-9]+)$`)

// quoteHashName returns the command line of a HASH-family command with its
// file name quoted the way the library unquotes it (csv, quotes doubled)
// if it holds a space or a quote, so that the whole name reaches it: the draft's HASH takes the rest of the
// line as the name; XSHA256 and the like may end with "start end".
func quoteHashName(cmd string, line []byte) []byte {
	s := strings.TrimRight(string(line), "\r\n")
	_, arg, ok := strings.Cut(s, " ")
	if !ok || arg == "" {
		return line
	}
	name, rng := arg, ""
	if m := hashRange.FindStringSubmatch(arg); m != nil && cmd != "HASH" {
		name, rng = m[1], " "+m[2]+" "+m[3]
	}
	if !strings.ContainsAny(name, ` "`) {
		return line // the library reads it whole
	}
	return []byte(cmd + ` "` + strings.ReplaceAll(name, `"`, `""`) + `"` + rng + "\r\n")
}

// optsHash returns what the library gets for "OPTS HASH name": the name in
// upper case if uploads record it, or nil (not offered).
func optsHash(name []byte) []byte {
	n := strings.ToUpper(string(name))
	for _, l := range hashLabels() {
		if n == l {
			return []byte("OPTS HASH " + n + "\r\n")
		}
	}
	return nil
}

// hashNotOffered is the reply to OPTS HASH of an algorithm no upload
// records, or to XCRC and XSHA512.
func hashNotOffered(what string) []byte {
	if cmd, ok := strings.CutPrefix(what, "X"); ok {
		alg := map[string]string{"CRC": "CRC32", "SHA512": "SHA-512"}[cmd]
		return []byte("502 X" + cmd + " is not offered: " + alg + " checksums are not recorded; use HASH, XSHA256, XSHA1 or XMD5\r\n")
	}
	return []byte("501 Unknown algorithm " + what + " (SHA-256, SHA-1 and MD5 are offered): current selection not changed\r\n")
}

// The library's FEAT line of hash algorithms, in map order: " CRC32;MD5;
// SHA-1;SHA-256*;SHA-512;".
var libHashNames = map[string]bool{"CRC32": true, "MD5": true, "SHA-1": true, "SHA-256": true, "SHA-512": true}

// featHashLine returns the FEAT line for the library's line p, or nil if p
// is not that line.
func featHashLine(p []byte) []byte {
	body, ok := bytes.CutPrefix(p, []byte(" "))
	if !ok {
		return nil
	}
	body, ok = bytes.CutSuffix(body, []byte(";\r\n"))
	if !ok {
		return nil
	}
	names := strings.Split(string(body), ";")
	selected := ""
	for _, n := range names {
		plain := strings.TrimSuffix(n, "*")
		if !libHashNames[plain] {
			return nil
		}
		if plain != n {
			selected = plain
		}
	}
	if len(names) != len(libHashNames) {
		return nil
	}
	labels := hashLabels()
	for i, l := range labels {
		if l == selected {
			labels[i] += "*"
		}
	}
	return []byte(" HASH " + strings.Join(labels, ";") + "\r\n")
}

// libHashNotAFile ends the library's reply to HASH of a directory (553, as
// the draft says): it says which kind of not-a-file it is.
var libHashNotAFile = []byte(" is not a regular file\r\n")

func hashOfDirectory(p []byte) []byte {
	return append(bytes.TrimSuffix(p, libHashNotAFile), " is a directory: checksums are of files only\r\n"...)
}

// libHashComputing matches the first line of the library's answers.
var libHashComputing = regexp.MustCompile(`^(213|250)-Computing (CRC32|MD5|SHA-1|SHA-256|SHA-512) digest\r\n$`)

// libFeatNotOffered are FEAT lines of commands that are not offered.
var libFeatNotOffered = [][]byte{[]byte(" XCRC\r\n"), []byte(" XSHA512\r\n")}

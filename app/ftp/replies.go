package ftp

import (
	"bytes"
	"strconv"
)

// Reply rewrites: where ftpserverlib gives no hook and says something FTPS
// clients handle badly, the control connection rewrites the reply on its way
// out. They all live here, matched on the library's text; replies_test.go
// provokes each one through a real session, so a change in the library's
// wording fails a test instead of silently undoing the fix.
//
//   - "421 Could not listen for passive connection" (all data ports busy)
//     becomes 425, which asks the client to retry instead of closing the
//     session;
//   - "550 Issue during transfer..." (a transfer that failed midway or whose
//     upload could not be committed) becomes 451: worth retrying;
//   - the stand-ins of commands.go (SYST, answered 215) get their real
//     answers;
//   - "421 PORT/EPRT command is disabled" becomes 502: 421 tells the client
//     the server is closing the connection, which it is not;
//   - the lines of STAT on a directory lose the literal " %s" the library
//     puts before each;
//   - CR, LF and NUL inside a line (a client's path echoed back) are
//     escaped, so no reply can forge another (escapeControls);
//   - HASH and its kin (hash.go): FEAT's hash line gets its feature name
//     and only the algorithms uploads record, the lines of XCRC and XSHA512
//     go, the "Computing ... digest" line before each answer goes, and
//     HASH of a directory says so;
//   - "Could not access file: driver error: calling GetHandle: " before a
//     transfer's error loses "driver error: calling GetHandle: ", the
//     library's internals: the view's error names the operation and path;
//   - the library answers most failed file operations with 550 whatever the
//     cause: when the session knows better (a name that cannot be stored:
//     553; the store unavailable: 450, or 451 for a transfer), the 550
//     carries that code instead (withCode, errors.go).
var (
	libNoPassivePort   = []byte("421 Could not listen for passive connection")
	libTransferFailed  = []byte("550 Issue during transfer")
	replyNoPassivePort = []byte("425 No data port is free right now: try again in a moment\r\n")
	replyProtClear     = []byte("536 Only PROT P is supported: data connections are always encrypted\r\n")
	libSYST            = []byte("215 ")
	libActiveDisabled  = [][]byte{[]byte("421 PORT command is disabled"), []byte("421 EPRT command is disabled")}
	replyNoActive      = []byte("502 Active mode is not offered: use PASV or EPSV\r\n")
	libStatLine        = []byte(" %s") // the library's STAT of a directory starts each line with it
	libGetHandleFailed = []byte("Could not access file: driver error: calling GetHandle: ")
)

// rewriteReply returns the reply to send for the library's reply p.
func (c *controlConn) rewriteReply(p []byte) []byte {
	switch {
	case libHashComputing.Match(p), bytes.Equal(p, libFeatNotOffered[0]), bytes.Equal(p, libFeatNotOffered[1]):
		return nil
	case bytes.HasPrefix(p, []byte("553 ")) && bytes.HasSuffix(p, libHashNotAFile):
		return hashOfDirectory(p)
	case bytes.HasPrefix(p, libSYST):
		return c.answerSYST(p)
	case bytes.HasPrefix(p, libActiveDisabled[0]), bytes.HasPrefix(p, libActiveDisabled[1]):
		return replyNoActive
	case bytes.HasPrefix(p, libStatLine):
		return append([]byte(" "), p[len(libStatLine):]...)
	case bytes.HasPrefix(p, libNoPassivePort):
		return replyNoPassivePort
	case bytes.HasPrefix(p, libTransferFailed):
		return append([]byte("451"), p[3:]...)
	case len(p) > 4 && bytes.HasPrefix(p[4:], libGetHandleFailed):
		return append(append(p[:4:4], "Could not access file: "...), p[4+len(libGetHandleFailed):]...)
	}
	if line := featHashLine(p); line != nil {
		return line
	}
	return p
}

// isErrorReply reports whether a reply line carries a 4xx or 5xx code (a
// multi-line reply's last line, or a one-line reply).
func isErrorReply(p []byte) bool {
	return len(p) >= 4 && (p[0] == '4' || p[0] == '5') && p[3] == ' '
}

// isFinalReply reports whether a reply line ends a command: a one-line
// reply, or a multi-line reply's last line, with a 2xx to 5xx code.
func isFinalReply(p []byte) bool {
	return len(p) >= 4 && p[0] >= '2' && p[0] <= '5' && p[3] == ' '
}

// passivePortOf reads the port of a "227 ... (h1,h2,h3,h4,p1,p2)" or "229 ...
// (|||port|)" reply: the library has no hook that tells which session a
// passive listener belongs to, so the reply that announces the port is where
// the port gets its owner. Should the library's wording change, no port has
// an owner and every data connection is refused: it fails closed, and the
// client tests fail.
func passivePortOf(reply []byte) int {
	if !bytes.HasPrefix(reply, []byte("227 ")) && !bytes.HasPrefix(reply, []byte("229 ")) {
		return 0
	}
	open, end := bytes.IndexByte(reply, '('), bytes.LastIndexByte(reply, ')')
	if open < 0 || end < open {
		return 0
	}
	inner := reply[open+1 : end]
	if reply[2] == '9' {
		parts := bytes.Split(inner, []byte("|"))
		if len(parts) != 5 {
			return 0
		}
		port, _ := strconv.Atoi(string(parts[3]))
		return port
	}
	parts := bytes.Split(inner, []byte(","))
	if len(parts) != 6 {
		return 0
	}
	hi, err1 := strconv.Atoi(string(parts[4]))
	lo, err2 := strconv.Atoi(string(parts[5]))
	if err1 != nil || err2 != nil || hi > 255 || lo > 255 {
		return 0
	}
	return hi<<8 | lo
}

// withCode gives a "550 ..." reply the code code (0 leaves it as it is).
func withCode(p []byte, code int) []byte {
	if code == 0 || !bytes.HasPrefix(p, []byte("550 ")) {
		return p
	}
	return append([]byte(strconv.Itoa(code)), p[3:]...)
}

// escapeControls makes sure the lines of a reply are the lines meant: a CR
// or LF that is not part of a CRLF line end, and NUL (a client's own path
// echoed back, say), are written as \r, \n and \0, so that no reply can
// forge another. A path cannot hold a CRLF: the command line ends at LF.
func escapeControls(p []byte) []byte {
	clean := true
	for i, b := range p {
		if b == 0 || b == '\r' && (i+1 >= len(p) || p[i+1] != '\n') || b == '\n' && (i == 0 || p[i-1] != '\r') {
			clean = false
			break
		}
	}
	if clean {
		return p
	}
	out := make([]byte, 0, len(p)+8)
	for i, b := range p {
		switch {
		case b == 0:
			out = append(out, `\0`...)
		case b == '\r' && (i+1 >= len(p) || p[i+1] != '\n'):
			out = append(out, `\r`...)
		case b == '\n' && (i == 0 || p[i-1] != '\r'):
			out = append(out, `\n`...)
		default:
			out = append(out, b)
		}
	}
	return out
}

// multiline follows the multi-line replies being written, so that each of
// their inner lines starts with a space as RFC 959 wants: the library's
// server STAT writes one (its banner) without it, which a client would
// read as a reply of its own.
type multiline struct{ code []byte }

func (m *multiline) fix(p []byte) []byte {
	if len(p) >= 4 && isDigits(p[:3]) {
		switch {
		case p[3] == '-' && m.code == nil:
			m.code = append([]byte(nil), p[:3]...)
		case p[3] == ' ' && bytes.Equal(p[:3], m.code):
			m.code = nil
		}
		return p
	}
	if m.code != nil && len(p) > 0 && p[0] != ' ' {
		return append([]byte(" "), p...)
	}
	return p
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

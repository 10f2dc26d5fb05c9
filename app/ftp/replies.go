package ftp

import (
	"bytes"
	"sync/atomic"
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
//   - the "200" that accepts PROT C becomes 536: data connections are always
//     TLS.
var (
	libNoPassivePort   = []byte("421 Could not listen for passive connection")
	libTransferFailed  = []byte("550 Issue during transfer")
	replyNoPassivePort = []byte("425 No data port is free right now: try again in a moment\r\n")
	replyProtClear     = []byte("536 Only PROT P is supported: data connections are always encrypted\r\n")
)

// rewriteReply returns the reply to send for the library's reply p;
// protClear is set while a PROT other than P awaits its answer.
func rewriteReply(p []byte, protClear *atomic.Bool) []byte {
	switch {
	case bytes.HasPrefix(p, libNoPassivePort):
		return replyNoPassivePort
	case bytes.HasPrefix(p, libTransferFailed):
		return append([]byte("451"), p[3:]...)
	case bytes.HasPrefix(p, []byte("200 ")) && protClear.Swap(false):
		return replyProtClear
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

package ftp

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Commands fixed on their way in. Where ftpserverlib handles a command in a
// way FTPS clients should not see, the control connection hands the library
// a stand-in line instead: a pseudo-command the library answers "500
// Unknown command", which replies.go turns into the right answer. The
// library handles commands in order, so the answers stay in order.
//
//   - AUTH on a connection that is already TLS: the library would answer
//     234 and start a second handshake inside the first, killing the
//     session. 503.
//   - REST with a negative or non-numeric offset: 501.
//   - STAT without an argument: the library's status names an empty listen
//     address ("Connected to  from ..."); ours says who is connected.
//   - A REST outlives the commands after it in the library (a LIST or SIZE
//     in between, and the next RETR would still start at that offset).
//     RFC 3659 says REST must come right before the transfer: after any
//     other file command, a "REST 0" goes to the library first and its
//     reply is dropped.
//   - PROT other than P is noted, so that its 200 becomes 536 (replies.go).
//   - PASV and EPSV first close the session's passive ports that no
//     transfer uses (Server.releasePassive).
const (
	pseudoAuthAgain   = "FTPS3-AUTH-AGAIN"
	pseudoBadRest     = "FTPS3-BAD-REST"
	pseudoStatus      = "FTPS3-STATUS"
	pseudoLineTooLong = "FTPS3-LINE-TOO-LONG"
)

// pseudoReply is the answer to a pseudo-command, or nil.
func (c *controlConn) pseudoReply(cmd string) []byte {
	switch cmd {
	case pseudoAuthAgain:
		return []byte("503 TLS is already active on this connection\r\n")
	case pseudoBadRest:
		return []byte("501 REST takes a byte offset of 0 or more\r\n")
	case pseudoLineTooLong:
		return []byte(fmt.Sprintf("500 Command line too long (at most %d bytes)\r\n", maxCommandLine))
	case pseudoStatus:
		return c.status()
	}
	return nil
}

// status is the reply to STAT without an argument.
func (c *controlConn) status() []byte {
	var b strings.Builder
	b.WriteString("211-ftps3 status\r\n")
	fmt.Fprintf(&b, " Connected from %s for %s\r\n", c.RemoteAddr(), time.Since(c.since).Truncate(time.Second))
	if u := c.user.Load(); u != nil {
		fmt.Fprintf(&b, " Logged in as %s\r\n", *u)
	} else {
		b.WriteString(" Not logged in\r\n")
	}
	if tc, ok := c.Conn.(*tls.Conn); ok {
		fmt.Fprintf(&b, " Control connection: %s; data connections: TLS only\r\n", tls.VersionName(tc.ConnectionState().Version))
	}
	b.WriteString("211 End of status\r\n")
	return []byte(b.String())
}

// restKeepers are the commands that may come between REST and its transfer
// without cancelling it.
var restKeepers = map[string]bool{"REST": true, "RETR": true, "STOR": true, "APPE": true, "STOU": true,
	"PASV": true, "EPSV": true, "TYPE": true, "MODE": true, "STRU": true, "PROT": true, "PBSZ": true, "NOOP": true, "ABOR": true}

// commandLines returns what the library gets for one command line.
func (c *controlConn) commandLines(line []byte) []byte {
	f := bytes.Fields(line)
	if len(f) == 0 {
		return line
	}
	cmd := strings.ToUpper(string(f[0]))
	var prefix []byte
	if c.restPending && !restKeepers[cmd] {
		c.restPending = false
		c.swallowRest.Add(1)
		prefix = []byte("REST 0\r\n")
	}
	switch cmd {
	case "AUTH":
		return append(prefix, pseudoAuthAgain+"\r\n"...)
	case "STAT":
		if len(f) == 1 {
			return append(prefix, pseudoStatus+"\r\n"...)
		}
	case "REST":
		n, err := strconv.ParseInt(string(bytes.Join(f[1:], nil)), 10, 64)
		if len(f) != 2 || err != nil || n < 0 {
			return append(prefix, pseudoBadRest+"\r\n"...)
		}
		c.restPending = n > 0
	case "RETR", "STOR", "APPE", "STOU":
		c.restPending = false
	case "PASV", "EPSV":
		if c.onPassiveCommand != nil {
			c.onPassiveCommand()
		}
	case "PROT":
		c.protClear.Store(len(f) < 2 || !bytes.EqualFold(f[1], []byte("P")))
	}
	return append(prefix, line...)
}

// swallowed reports whether reply p answers an injected "REST 0" and must
// not reach the client.
func (c *controlConn) swallowed(p []byte) bool {
	if (bytes.HasPrefix(p, []byte("350 ")) || bytes.HasPrefix(p, []byte("501 "))) && c.swallowRest.Load() > 0 {
		c.swallowRest.Add(-1)
		return true
	}
	return false
}

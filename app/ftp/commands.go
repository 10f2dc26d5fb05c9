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
// a stand-in: SYST, which the library answers "215" in its turn (after any
// transfer in progress, like any ordinary command), and whose answer
// replies.go replaces with the right one. Every SYST that reaches the
// library, a client's own included, takes its place in one queue, so each
// 215 is matched with its command. (An unknown command would do too, but the
// library answers those at once, even while a transfer's goroutine writes
// its own replies: out of order, and racing inside the library.)
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
//     reply is dropped. Right before RETR it starts the download there,
//     right before STOR it resumes a cut upload (resume.go).
//   - ABOR is counted before the library sees it: an upload it cuts is
//     discarded, where any other cut keeps it for resuming (resume.go).
//   - PROT other than P: 536, data connections are always TLS. PROT P
//     reaches the library as PROT C: the data connections' TLS is not the
//     library's but the port's (dataconn.go), which answers a client's
//     ClientHello as soon as it comes.
//   - PASV and EPSV first close the session's passive ports that no
//     transfer uses or was asked for (Server.releasePassive). PASV for a
//     client its address cannot be found for (an IPv6 client with no
//     passive rule, a rule whose name does not resolve) is answered 425
//     here: the library would reserve a port first, and keep it.
//   - A transfer command marks the session's passive ports as spoken for,
//     so a PASV the client sent right behind it does not close the port
//     the transfer is about to use.
//   - HASH and its kin: the file name is quoted for the library; OPTS HASH
//     of an algorithm not offered, XCRC and XSHA512 are answered here
//     (hash.go).
const (
	pseudoAuthAgain   = "FTPS3-AUTH-AGAIN"
	pseudoBadRest     = "FTPS3-BAD-REST"
	pseudoStatus      = "FTPS3-STATUS"
	pseudoLineTooLong = "FTPS3-LINE-TOO-LONG"
	pseudoProtClear   = "FTPS3-PROT-CLEAR"
	pseudoNoHash      = "FTPS3-NO-HASH "    // + the algorithm or command not offered
	pseudoUnknown     = "FTPS3-UNKNOWN "    // + a command the library does not know
	pseudoNoPassive   = "FTPS3-NO-PASSIVE " // + why PASV has no address for this client
)

// standIn hands the library a SYST in place of pseudo-command cmd ("" for
// a client's own SYST), with prefix before it.
func (c *controlConn) standIn(prefix []byte, cmd string) []byte {
	c.systMu.Lock()
	c.systQueue = append(c.systQueue, cmd)
	c.systMu.Unlock()
	return append(prefix, "SYST\r\n"...)
}

// answerSYST takes the next SYST's place from the queue: the reply for it
// (the library's own for a client's SYST).
func (c *controlConn) answerSYST(p []byte) []byte {
	c.systMu.Lock()
	if len(c.systQueue) == 0 {
		c.systMu.Unlock()
		return p
	}
	cmd := c.systQueue[0]
	c.systQueue = c.systQueue[1:]
	c.systMu.Unlock()
	if r := c.pseudoReply(cmd); r != nil {
		return r
	}
	return p
}

// pseudoReply is the answer to a pseudo-command, or nil.
func (c *controlConn) pseudoReply(cmd string) []byte {
	switch cmd {
	case pseudoAuthAgain:
		return []byte("503 TLS is already active on this connection\r\n")
	case pseudoBadRest:
		return []byte("501 REST takes a byte offset of 0 or more\r\n")
	case pseudoProtClear:
		return replyProtClear
	case pseudoLineTooLong:
		return []byte(fmt.Sprintf("500 Command line too long (at most %d bytes)\r\n", maxCommandLine))
	case pseudoStatus:
		return c.status()
	}
	if what, ok := strings.CutPrefix(cmd, pseudoNoHash); ok {
		return hashNotOffered(what)
	}
	if why, ok := strings.CutPrefix(cmd, pseudoNoPassive); ok {
		return []byte("425 " + strings.ToUpper(why[:1]) + why[1:] + "\r\n")
	}
	if what, ok := strings.CutPrefix(cmd, pseudoUnknown); ok {
		return []byte(fmt.Sprintf("500 Unknown command %q\r\n", what)) // as the library words it
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

// libCommands are the commands ftpserverlib v0.32.0 knows (its
// commandsMap); it answers any other at once, even while a transfer's
// goroutine writes that transfer's replies through the same buffer, which
// interleaves the two (found by FuzzControlSession): such lines become
// stand-ins, answered in turn.
var libCommands = map[string]bool{}

func init() {
	for _, c := range strings.Fields(`USER PASS ACCT ADAT AUTH PROT PBSZ CCC CONF ENC MIC CLNT FEAT SYST NOOP
		OPTS QUIT AVBL ABOR CSID HELP HOST LANG XRSQ XSEM XSEN SIZE DSIZ STAT MDTM MFMT MFF MFCT RETR STOR
		STOU STRU APPE DELE RNFR RNTO ALLO REST SITE HASH XCRC MD5 XMD5 XSHA XSHA1 XSHA256 XSHA512 COMB THMB
		XRCP CWD PWD XCWD XPWD CDUP NLST LIST MLSD MLST MKD RMD RMDA XMKD XRMD SMNT XCUP TYPE MODE PASV EPSV
		LPSV SPSV PORT LRPT EPRT REIN`) {
		libCommands[c] = true
	}
}

// libKnows reports whether the library takes line's command as one it
// knows: the text before the first space, upper-cased, or anything ending
// in ABOR, STAT or QUIT (its "special attention" commands).
func libKnows(line []byte) bool {
	cmd, _, _ := strings.Cut(strings.TrimRight(string(line), "\r\n"), " ")
	cmd = strings.ToUpper(cmd)
	return libCommands[cmd] || strings.HasSuffix(cmd, "ABOR") || strings.HasSuffix(cmd, "STAT") || strings.HasSuffix(cmd, "QUIT")
}

// commandLines returns what the library gets for one command line.
func (c *controlConn) commandLines(line []byte) []byte {
	f := bytes.Fields(line)
	if !libKnows(line) {
		var prefix []byte
		if c.restPending {
			c.restPending = false
			c.swallowRest.Add(1)
			prefix = []byte("REST 0\r\n")
		}
		cmd, _, _ := strings.Cut(strings.TrimRight(string(line), "\r\n"), " ")
		return c.standIn(prefix, pseudoUnknown+strings.ToUpper(cmd))
	}
	if len(f) == 0 {
		return line
	}
	cmd := strings.ToUpper(string(f[0]))
	if strings.HasSuffix(cmd, "ABOR") { // after Telnet IP/Synch bytes too, as the library reads it
		c.abors.Add(1)
		c.noteAbort()
	}
	var prefix []byte
	if c.restPending && !restKeepers[cmd] {
		c.restPending = false
		c.swallowRest.Add(1)
		prefix = []byte("REST 0\r\n")
	}
	switch cmd {
	case "SYST": // every SYST the library sees must be in the queue
		return c.standIn(prefix, "")
	case "AUTH":
		return c.standIn(prefix, pseudoAuthAgain)
	case "STAT":
		if len(f) == 1 {
			return c.standIn(prefix, pseudoStatus)
		}
	case "REST":
		n, err := strconv.ParseInt(string(bytes.Join(f[1:], nil)), 10, 64)
		if len(f) != 2 || err != nil || n < 0 {
			return c.standIn(prefix, pseudoBadRest)
		}
		// Before login the library refuses REST, and would refuse the
		// "REST 0" meant to cancel it too.
		c.restPending = n > 0 && c.user.Load() != nil
	case "RETR", "STOR", "APPE", "STOU", "LIST", "NLST", "MLSD":
		c.restPending = false // (a listing already cleared it above)
		if c.onTransferCommand != nil {
			c.onTransferCommand()
		}
	case "PASV", "EPSV":
		if c.onPassiveCommand != nil {
			if err := c.onPassiveCommand(cmd); err != nil {
				return c.standIn(prefix, pseudoNoPassive+err.Error())
			}
		}
	case "PROT":
		if len(f) != 2 || !bytes.EqualFold(f[1], []byte("P")) {
			return c.standIn(prefix, pseudoProtClear)
		}
		return append(prefix, "PROT C\r\n"...)
	case "HASH", "XSHA256", "XSHA1", "XSHA", "XMD5", "MD5":
		return append(prefix, quoteHashName(cmd, line)...)
	case "XCRC", "XSHA512":
		return c.standIn(prefix, pseudoNoHash+cmd)
	case "OPTS":
		if len(f) == 3 && bytes.EqualFold(f[1], []byte("HASH")) {
			if l := optsHash(f[2]); l != nil {
				return append(prefix, l...)
			}
			return c.standIn(prefix, pseudoNoHash+string(f[2]))
		}
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

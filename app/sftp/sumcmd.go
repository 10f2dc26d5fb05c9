package sftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ftps3/ftps3/app/objfs"
	"github.com/ftps3/ftps3/app/storage/digest"
)

// Checksum commands. SFTP has no standard request for a file's checksum;
// clients that want one (rclone, scripts) run md5sum, sha1sum or sha256sum
// over an exec request, as on any Unix server. The gateway has no shell and
// runs nothing: it reads the command line as a POSIX shell would split it
// into words, and answers these three commands itself, in coreutils'
// format, from the digests recorded when each file was uploaded
// (objfs.View.Checksum), through the user's own view (confined to the home,
// which is "/"). Any other command line is refused with one line on
// standard error and exit status 127 (not a command served here, or shell
// syntax) or 1 (an option, a bad argument); the connection goes on.

// sumCommands are the commands served and the digests they print.
var sumCommands = map[string]digest.Algorithm{
	"md5sum":    digest.MD5,
	"sha1sum":   digest.SHA1,
	"sha256sum": digest.SHA256,
}

const (
	exitRefused = 127 // command not found, as a shell says
	exitFailed  = 1   // coreutils: a file could not be read, or a bad option

	// maxSumStdin bounds what is hashed from standard input (clients send
	// nothing: rclone checks that md5sum of no input prints the digest of
	// the empty string).
	maxSumStdin = 1 << 20
	// stdinWait bounds the wait for standard input to end.
	stdinWait = time.Minute
	// maxSumPaths bounds the files one command may ask for (each costs a
	// request or two to the store).
	maxSumPaths = 1000
	// sumTimeout bounds the answer for one file.
	sumTimeout = 2 * time.Minute
)

// sumCommand is a parsed checksum command.
type sumCommand struct {
	name  string // as typed: md5sum, sha1sum, sha256sum
	alg   digest.Algorithm
	paths []string // as typed; "-" is standard input
}

// refusal is a command line the gateway does not run: the line for
// standard error, and the exit status.
type refusal struct {
	msg    string
	status uint32
}

func (r *refusal) Error() string { return r.msg }

// parseSumCommand reads an exec request's command line; served are the
// algorithms answered.
func parseSumCommand(line string, served []digest.Algorithm) (*sumCommand, *refusal) {
	words, err := shellWords(line)
	if err != nil {
		return nil, &refusal{msg: "ftps3: " + err.Error() + ": this server runs no shell, only md5sum, sha1sum or sha256sum followed by file names", status: exitRefused}
	}
	if len(words) == 0 {
		return nil, &refusal{msg: "ftps3: no command: only md5sum, sha1sum and sha256sum are served", status: exitRefused}
	}
	alg, ok := sumCommands[words[0]]
	if !ok {
		return nil, &refusal{msg: "ftps3: " + oneLine(words[0]) + ": command not found (only md5sum, sha1sum and sha256sum are served)", status: exitRefused}
	}
	c := &sumCommand{name: words[0], alg: alg}
	if !slices.Contains(served, alg) {
		return nil, &refusal{msg: c.name + ": " + keptOnly(alg, served), status: exitFailed}
	}
	options := true
	for _, w := range words[1:] {
		switch {
		case options && w == "--":
			options = false
		case options && len(w) > 1 && w[0] == '-':
			return nil, &refusal{msg: c.name + ": " + oneLine(w) + ": options are not supported (only file names)", status: exitFailed}
		default:
			c.paths = append(c.paths, w)
		}
	}
	if len(c.paths) > maxSumPaths {
		return nil, &refusal{msg: fmt.Sprintf("%s: too many files (at most %d in one command)", c.name, maxSumPaths), status: exitFailed}
	}
	if len(c.paths) == 0 {
		c.paths = []string{"-"}
	}
	return c, nil
}

// keptOnly says that a's checksums are not kept, and which are.
func keptOnly(a digest.Algorithm, served []digest.Algorithm) string {
	if len(served) == 0 {
		return "this server keeps no checksums"
	}
	var labels []string
	for _, k := range served {
		labels = append(labels, k.Label())
	}
	return a.Label() + " checksums are not kept by this server (it keeps " + strings.Join(labels, ", ") + ")"
}

// shellWords splits a command line into words as a POSIX shell does
// (blanks separate words; backslash, single and double quotes quote), and
// refuses what a shell would do more with: operators (; & | < > ( ) and a
// newline), expansions ($, `, a leading ~), globs (* ? [), braces (as
// bash expands them) and comments, wherever they are not quoted.
func shellWords(line string) ([]string, error) {
	var (
		words  []string
		w      strings.Builder
		inWord bool // a word started (a quoted empty string is a word)
	)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case c == '\\':
			i++
			switch {
			case i == len(line):
				return nil, errors.New("a backslash ends the line")
			case line[i] == '\n': // a line continuation
			default:
				w.WriteByte(line[i])
				inWord = true
			}
		case c == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("a single quote is not closed")
			}
			w.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '"':
			inWord = true
			for i++; ; i++ {
				if i == len(line) {
					return nil, errors.New("a double quote is not closed")
				}
				c := line[i]
				if c == '"' {
					break
				}
				if c == '$' || c == '`' {
					return nil, fmt.Errorf("%q in double quotes (an expansion) is not supported", c)
				}
				if c == '\\' && i+1 < len(line) && strings.IndexByte("$`\"\\\n", line[i+1]) >= 0 {
					i++
					if line[i] == '\n' {
						continue
					}
					c = line[i]
				}
				w.WriteByte(c)
			}
		case c == '\n':
			return nil, errors.New("a second command (a newline) is not supported")
		case strings.IndexByte(";&|<>()", c) >= 0:
			return nil, fmt.Errorf("%q (a shell operator) is not supported", c)
		case c == '$' || c == '`':
			return nil, fmt.Errorf("%q (an expansion) is not supported", c)
		case strings.IndexByte("*?[", c) >= 0:
			return nil, fmt.Errorf("%q (a file name pattern) is not supported", c)
		case c == '{' || c == '}':
			return nil, fmt.Errorf("%q (a brace expansion) is not supported", c)
		case !inWord && (c == '~' || c == '#'):
			return nil, fmt.Errorf("%q at the start of a word (a home directory or a comment) is not supported", c)
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// serveExec runs one exec request on its session channel: a checksum
// command, or a refusal. It sends the exit status and closes the channel.
func (s *Server) serveExec(ctx context.Context, ch ssh.Channel, line string, view *objfs.View, log *slog.Logger) {
	defer ch.Close()
	status := s.runSumCommand(ctx, ch, line, view, log)
	ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
	ch.CloseWrite()
}

// runSumCommand answers the command line on ch and returns its exit status.
func (s *Server) runSumCommand(ctx context.Context, ch ssh.Channel, line string, view *objfs.View, log *slog.Logger) uint32 {
	m := s.metrics
	cmd, ref := parseSumCommand(line, s.opts.Checksums)
	if ref != nil {
		m.CommandsRefused.Add(1)
		log.Info("command refused", "command", truncate(line, 200), "status", ref.status, "reason", ref.msg)
		io.WriteString(ch.Stderr(), ref.msg+"\n")
		return ref.status
	}
	status := uint32(0)
	stdinRead := false
	for _, p := range cmd.paths {
		var sum string
		var err error
		if p == "-" {
			// As coreutils: a second "-" reads a standard input that has ended.
			sum, err = hashStdin(ch, cmd.alg, stdinRead)
			stdinRead = true
		} else {
			sum, err = checksumOf(ctx, view, p, cmd.alg)
		}
		logPath := p // the path in the view, as other records name it
		if p != "-" && p != "" {
			logPath = objfs.Clean(p)
		}
		if err != nil {
			status = exitFailed
			msg := sumFailure(err, cmd.alg)
			log.Info("checksum", "command", cmd.name, "path", logPath, "result", msg)
			var se *objfs.StoreError
			if errors.As(err, &se) {
				log.Warn("checksum: the store failed", "command", cmd.name, "path", logPath, "err", err)
			}
			io.WriteString(ch.Stderr(), cmd.name+": "+oneLine(p)+": "+msg+"\n")
			continue
		}
		log.Info("checksum", "command", cmd.name, "path", logPath, "result", "ok")
		if _, err := io.WriteString(ch, sumLine(sum, p)); err != nil {
			status = exitFailed
			break // the client is gone
		}
	}
	if status == 0 {
		m.CommandsOK.Add(1)
	} else {
		m.CommandsFailed.Add(1)
	}
	return status
}

// checksumOf answers for one file of the user's view; a relative path is
// relative to the home ("/").
func checksumOf(ctx context.Context, view *objfs.View, p string, a digest.Algorithm) (string, error) {
	if p == "" {
		return "", &fs.PathError{Op: "checksum", Path: p, Err: fs.ErrNotExist} // as coreutils
	}
	ctx, cancel := context.WithTimeout(ctx, sumTimeout)
	defer cancel()
	return view.Checksum(ctx, p, a)
}

var (
	errStdinTooLarge = fmt.Errorf("standard input is larger than the %d bytes hashed here", maxSumStdin)
	errStdinTimeout  = fmt.Errorf("standard input did not end within %s", stdinWait)
	errStdinRead     = errors.New("standard input could not be read")
)

// hashStdin hashes what the client sends until it sends EOF, within
// maxSumStdin bytes and stdinWait; an input already read hashes as empty.
func hashStdin(ch ssh.Channel, a digest.Algorithm, ended bool) (string, error) {
	h := digest.New([]digest.Algorithm{a})
	if ended {
		return h.Sums()[a], nil
	}
	var timedOut atomic.Bool
	timer := time.AfterFunc(stdinWait, func() {
		timedOut.Store(true)
		ch.Close() // ends the read below
	})
	defer timer.Stop()
	n, err := io.Copy(h, io.LimitReader(ch, maxSumStdin+1))
	switch {
	case timedOut.Load():
		return "", errStdinTimeout
	case err != nil:
		return "", errStdinRead
	case n > maxSumStdin:
		return "", errStdinTooLarge
	}
	return h.Sums()[a], nil
}

// sumFailure is what the client is told about a file whose checksum could
// not be given; store errors are logged, not shown.
func sumFailure(err error, a digest.Algorithm) string {
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "No such file or directory"
	case errors.Is(err, objfs.ErrIsDir):
		return "Is a directory"
	case errors.Is(err, objfs.ErrNoChecksum):
		return "no checksum recorded (" + a.Label() + " was not computed when the file was uploaded)"
	case errors.Is(err, objfs.ErrInvalidName) && errors.As(err, &pe):
		return pe.Err.Error()
	case errors.Is(err, errStdinTooLarge), errors.Is(err, errStdinTimeout), errors.Is(err, errStdinRead):
		return err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "the storage service did not answer in time; try again"
	}
	return "the storage service failed; try again"
}

// sumLine is one line of output as coreutils writes it: the digest, two
// spaces, the name; a name with a backslash or a line break is escaped and
// the line then starts with a backslash.
func sumLine(sum, name string) string {
	if strings.ContainsAny(name, "\\\n\r") {
		return `\` + sum + "  " + escapeName(name) + "\n"
	}
	return sum + "  " + name + "\n"
}

var (
	nameEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`)
	breakEscaper = strings.NewReplacer("\n", `\n`, "\r", `\r`)
)

// escapeName escapes a name for a line of output, as coreutils does.
func escapeName(name string) string { return nameEscaper.Replace(name) }

// oneLine keeps a name in a message on one line.
func oneLine(name string) string { return breakEscaper.Replace(name) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

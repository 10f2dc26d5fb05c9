package ftp

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"

	"github.com/ftps3/ftps3/app/auth"
	"github.com/ftps3/ftps3/app/objfs"
)

// errDraining refuses new transfers while the server shuts down.
var errDraining = errors.New("server is shutting down: try again in a moment")

// session is one logged-in user's file system as ftpserverlib wants it: an
// afero.Fs plus the listing, transfer and RMD extensions, each a thin call
// into the user's objfs.View, where the rules live.
type session struct {
	s    *Server
	cc   ftpserver.ClientContext
	ctrl *controlConn
	view *objfs.View
	log  *slog.Logger

	hashStat hashStat // the last Stat, for the HASH commands (hash.go)
	sizeTold sizeTold // the last SIZE, for an APPE after it (resume.go)
}

var (
	_ ftpserver.ClientDriver                      = (*session)(nil)
	_ ftpserver.ClientDriverExtensionFileList     = (*session)(nil)
	_ ftpserver.ClientDriverExtentionFileTransfer = (*session)(nil)
	_ ftpserver.ClientDriverExtensionRemoveDir    = (*session)(nil)
	_ ftpserver.ClientDriverExtensionHasher       = (*session)(nil)
)

func newSession(s *Server, cc ftpserver.ClientContext, user *auth.User) *session {
	log := s.log.With("session", cc.ID(), "user", user.Login, "client", cc.RemoteAddr().String())
	ss := &session{s: s, cc: cc, view: s.opts.FS.View(user.Home, user.ReadOnly, log), log: log}
	if ex, ok := cc.Extra().(*sessionExtra); ok {
		ss.ctrl = ex.ctrl
	}
	return ss
}

// opCtx bounds one command's work on the store.
func opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Minute)
}

// Stat implements afero.Fs (CWD, SIZE, MDTM, MLST, RNFR, HASH). The library
// passes absolute paths, except for HASH and its kin, whose name it passes
// as the client sent it: a relative one is taken from the working
// directory, as the file ComputeHash is then asked about. SIZE and MLST of
// a name with a pending upload tell its resumable offset (resume.go).
func (ss *session) Stat(name string) (os.FileInfo, error) {
	if !path.IsAbs(name) {
		name = path.Join(ss.cc.Path(), name)
	}
	ctx, cancel := opCtx()
	defer cancel()
	cmd := ss.cc.GetLastCommand()
	if fi, ok := ss.statPending(ctx, cmd, name); ok {
		ss.sizeTold.told(cmd, name, fi)
		return fi, nil
	}
	fi, err := ss.view.Stat(ctx, name)
	if err != nil {
		return nil, ss.forClient(err, false)
	}
	ss.sizeTold.told(cmd, name, fi)
	ss.hashStat.remember(objfs.Clean(name), fi.Size())
	return fi, nil
}

// errTooManyListings turns a listing away while as many run as there are
// data ports: STAT of a directory lists on the control connection, outside
// the data ports' own limit.
var errTooManyListings = errors.New("too many listings in progress: try again in a moment")

// ReadDir implements the listing extension (LIST, NLST, MLSD, STAT of a
// directory).
func (ss *session) ReadDir(name string) ([]os.FileInfo, error) {
	select {
	case ss.s.listings <- struct{}{}:
		defer func() { <-ss.s.listings }()
	default:
		if ss.ctrl != nil {
			ss.ctrl.setReplyCode(450)
		}
		ss.log.Warn("listing refused: too many in progress", "path", name)
		return nil, errTooManyListings
	}
	ctx, cancel := opCtx()
	defer cancel()
	list, err := ss.view.ReadDir(ctx, name)
	if err != nil {
		return nil, ss.forClient(err, false)
	}
	out := make([]os.FileInfo, len(list))
	for i, fi := range list {
		out[i] = fi
	}
	return out, nil
}

// Mkdir implements afero.Fs (MKD).
func (ss *session) Mkdir(name string, _ os.FileMode) error {
	ctx, cancel := opCtx()
	defer cancel()
	return ss.forClient(ss.view.Mkdir(ctx, name), false)
}

// MkdirAll implements afero.Fs.
func (ss *session) MkdirAll(name string, _ os.FileMode) error {
	ctx, cancel := opCtx()
	defer cancel()
	return ss.forClient(ss.view.MkdirAll(ctx, name), false)
}

// Remove implements afero.Fs (DELE): the stored file and the name's
// pending upload, if any, go.
func (ss *session) Remove(name string) error {
	ctx, cancel := opCtx()
	defer cancel()
	hadPending, err := ss.removePending(ctx, name)
	if err != nil {
		return ss.forClient(err, false)
	}
	err = ss.view.Remove(ctx, name)
	if hadPending && errors.Is(err, fs.ErrNotExist) {
		return nil // there was only the pending upload
	}
	return ss.forClient(err, false)
}

// RemoveDir implements the RMD extension.
func (ss *session) RemoveDir(name string) error {
	ctx, cancel := opCtx()
	defer cancel()
	return ss.forClient(ss.view.RemoveDir(ctx, name), false)
}

// Rename implements afero.Fs (RNFR/RNTO). A directory rename moves every key
// under it, hence the longer deadline.
func (ss *session) Rename(from, to string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	return ss.forClient(ss.view.Rename(ctx, from, to), false)
}

// The rest of afero.Fs is not used by ftpserverlib with the extensions above,
// or has no meaning on object storage.

func notSupported(op, name string) error {
	return &os.PathError{Op: op, Path: objfs.Clean(name), Err: objfs.ErrNotSupported}
}

func (ss *session) Name() string                              { return "ftps3" }
func (ss *session) Create(name string) (afero.File, error)    { return nil, notSupported("create", name) }
func (ss *session) Open(name string) (afero.File, error)      { return nil, notSupported("open", name) }
func (ss *session) RemoveAll(name string) error               { return notSupported("rmdir", name) }
func (ss *session) Chmod(name string, _ os.FileMode) error    { return notSupported("chmod", name) }
func (ss *session) Chown(name string, _, _ int) error         { return notSupported("chown", name) }
func (ss *session) Chtimes(name string, _, _ time.Time) error { return notSupported("chtimes", name) }
func (ss *session) OpenFile(name string, _ int, _ os.FileMode) (afero.File, error) {
	return nil, notSupported("open", name)
}

package sftp

import (
	"io"
	"sync/atomic"

	"github.com/ftps3/ftps3/app/frontdoor"
	"github.com/ftps3/ftps3/app/promtext"
)

// Metrics are the SFTP front door's counters. The zero value is ready to
// use; WritePrometheus serves them, named ftps3_sftp_* next to the FTPS
// front door's ftps3_*.
type Metrics struct {
	frontdoor.Counters
	// ErrorReplies counts requests answered with an error status.
	ErrorReplies atomic.Int64
	// HandshakesFailed counts connections that ended before logging in
	// (bad algorithms, wrong credentials, scanners).
	HandshakesFailed atomic.Int64
	// Resuming (resume.go): uploads cut and kept for resuming, and uploads
	// that continued one.
	UploadsSuspended, UploadsResumed atomic.Int64
	// Checksum commands (sumcmd.go): answered for every file, failed for
	// at least one, and command lines refused (nothing run).
	CommandsOK, CommandsFailed, CommandsRefused atomic.Int64
}

var _ promtext.Source = (*Metrics)(nil)

// WritePrometheus writes the metrics in Prometheus' text format.
func (m *Metrics) WritePrometheus(w io.Writer) {
	m.Counters.Write(w, "ftps3_sftp_", "SFTP")
	promtext.Counter(w, "ftps3_sftp_request_errors_total", "SFTP requests answered with an error status.", m.ErrorReplies.Load())
	promtext.Counter(w, "ftps3_sftp_handshakes_failed_total", "SSH connections that ended before logging in.", m.HandshakesFailed.Load())
	promtext.Counter(w, "ftps3_sftp_uploads_suspended_total", "SFTP uploads cut before their CLOSE (connection lost, client killed, server drained) and kept for resuming.", m.UploadsSuspended.Load())
	promtext.Counter(w, "ftps3_sftp_uploads_resumed_total", "SFTP uploads that continued a cut upload from where it stopped.", m.UploadsResumed.Load())
	promtext.Labelled(w, "ftps3_sftp_checksum_commands_total", "Checksum commands (md5sum, sha1sum, sha256sum) by result; refused: other command lines, nothing run.", "counter",
		promtext.Sample{Labels: map[string]string{"result": "ok"}, Value: float64(m.CommandsOK.Load())},
		promtext.Sample{Labels: map[string]string{"result": "failed"}, Value: float64(m.CommandsFailed.Load())},
		promtext.Sample{Labels: map[string]string{"result": "refused"}, Value: float64(m.CommandsRefused.Load())})
}

package sftp

import (
	"io"
	"sync/atomic"

	"github.com/ftps3/ftps3/app/promtext"
)

// Metrics are the SFTP front door's counters. The zero value is ready to
// use; WritePrometheus serves them, named ftps3_sftp_* next to the FTPS
// front door's ftps3_*.
type Metrics struct {
	SessionsActive  atomic.Int64
	SessionsTotal   atomic.Int64
	LoginsOK        atomic.Int64
	LoginsFailed    atomic.Int64
	LoginsThrottled atomic.Int64
	TransfersActive atomic.Int64
	UploadsOK       atomic.Int64
	UploadsFailed   atomic.Int64
	DownloadsOK     atomic.Int64
	DownloadsFailed atomic.Int64
	BytesUploaded   atomic.Int64
	BytesDownloaded atomic.Int64
	// ErrorReplies counts requests answered with an error status.
	ErrorReplies atomic.Int64
	// HandshakesFailed counts connections that ended before logging in
	// (bad algorithms, wrong credentials, scanners).
	HandshakesFailed atomic.Int64
}

var _ promtext.Source = (*Metrics)(nil)

// WritePrometheus writes the metrics in Prometheus' text format.
func (m *Metrics) WritePrometheus(w io.Writer) {
	type L = map[string]string
	s := func(l L, v *atomic.Int64) promtext.Sample {
		return promtext.Sample{Labels: l, Value: float64(v.Load())}
	}
	promtext.Gauge(w, "ftps3_sftp_sessions_active", "SFTP sessions connected now.", float64(m.SessionsActive.Load()))
	promtext.Counter(w, "ftps3_sftp_sessions_total", "SFTP sessions logged in since start.", m.SessionsTotal.Load())
	promtext.Labelled(w, "ftps3_sftp_logins_total", "SFTP login attempts by result.", "counter",
		s(L{"result": "ok"}, &m.LoginsOK), s(L{"result": "failed"}, &m.LoginsFailed), s(L{"result": "throttled"}, &m.LoginsThrottled))
	promtext.Gauge(w, "ftps3_sftp_transfers_active", "SFTP uploads and downloads in progress.", float64(m.TransfersActive.Load()))
	promtext.Labelled(w, "ftps3_sftp_transfers_total", "Finished SFTP transfers by direction and result.", "counter",
		s(L{"direction": "upload", "result": "ok"}, &m.UploadsOK), s(L{"direction": "upload", "result": "failed"}, &m.UploadsFailed),
		s(L{"direction": "download", "result": "ok"}, &m.DownloadsOK), s(L{"direction": "download", "result": "failed"}, &m.DownloadsFailed))
	promtext.Labelled(w, "ftps3_sftp_transfer_bytes_total", "SFTP bytes moved by direction.", "counter",
		s(L{"direction": "upload"}, &m.BytesUploaded), s(L{"direction": "download"}, &m.BytesDownloaded))
	promtext.Counter(w, "ftps3_sftp_request_errors_total", "SFTP requests answered with an error status.", m.ErrorReplies.Load())
	promtext.Counter(w, "ftps3_sftp_handshakes_failed_total", "SSH connections that ended before logging in.", m.HandshakesFailed.Load())
}

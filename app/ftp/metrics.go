package ftp

import (
	"io"
	"sync/atomic"

	"github.com/ftps3/ftps3/app/promtext"
)

// Metrics are the FTPS front door's counters. The zero value is ready to use;
// WritePrometheus serves them.
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
	// ErrorReplies counts replies with a 4xx or 5xx code.
	ErrorReplies atomic.Int64
	// DataConnsRefused counts connections to a passive port that were not
	// its session's (another address, no TLS session reuse).
	DataConnsRefused atomic.Int64
	// ConnsRefused counts control connections refused by the limits, by
	// reason (limits.go).
	ConnsRefusedServer, ConnsRefusedAddress, ConnsRefusedPending atomic.Int64
	// LoginTimeouts counts connections closed for not logging in in time.
	LoginTimeouts atomic.Int64
	// DataIdleTimeouts counts transfers ended for moving nothing too long.
	DataIdleTimeouts atomic.Int64
}

func (m *Metrics) refused(reason string) {
	switch reason {
	case refusedServerFull:
		m.ConnsRefusedServer.Add(1)
	case refusedAddressFull:
		m.ConnsRefusedAddress.Add(1)
	case refusedLoginsQueue:
		m.ConnsRefusedPending.Add(1)
	}
}

var _ promtext.Source = (*Metrics)(nil)

// WritePrometheus writes the metrics in Prometheus' text format.
func (m *Metrics) WritePrometheus(w io.Writer) {
	type L = map[string]string
	s := func(l L, v *atomic.Int64) promtext.Sample {
		return promtext.Sample{Labels: l, Value: float64(v.Load())}
	}
	promtext.Gauge(w, "ftps3_sessions_active", "FTP sessions connected now.", float64(m.SessionsActive.Load()))
	promtext.Counter(w, "ftps3_sessions_total", "FTP sessions accepted since start.", m.SessionsTotal.Load())
	promtext.Labelled(w, "ftps3_logins_total", "Login attempts by result.", "counter",
		s(L{"result": "ok"}, &m.LoginsOK), s(L{"result": "failed"}, &m.LoginsFailed), s(L{"result": "throttled"}, &m.LoginsThrottled))
	promtext.Gauge(w, "ftps3_transfers_active", "Uploads and downloads in progress.", float64(m.TransfersActive.Load()))
	promtext.Labelled(w, "ftps3_transfers_total", "Finished transfers by direction and result.", "counter",
		s(L{"direction": "upload", "result": "ok"}, &m.UploadsOK), s(L{"direction": "upload", "result": "failed"}, &m.UploadsFailed),
		s(L{"direction": "download", "result": "ok"}, &m.DownloadsOK), s(L{"direction": "download", "result": "failed"}, &m.DownloadsFailed))
	promtext.Labelled(w, "ftps3_transfer_bytes_total", "Bytes moved by direction.", "counter",
		s(L{"direction": "upload"}, &m.BytesUploaded), s(L{"direction": "download"}, &m.BytesDownloaded))
	promtext.Counter(w, "ftps3_data_connections_refused_total", "Connections to a passive port refused: not from its session (address, TLS session reuse).", m.DataConnsRefused.Load())
	promtext.Labelled(w, "ftps3_connections_refused_total", "Control connections refused by the connection limits, by reason.", "counter",
		s(L{"reason": refusedServerFull}, &m.ConnsRefusedServer), s(L{"reason": refusedAddressFull}, &m.ConnsRefusedAddress),
		s(L{"reason": refusedLoginsQueue}, &m.ConnsRefusedPending))
	promtext.Counter(w, "ftps3_login_timeouts_total", "Connections closed for not logging in in time.", m.LoginTimeouts.Load())
	promtext.Counter(w, "ftps3_data_idle_timeouts_total", "Transfers ended because their data connection moved nothing for too long.", m.DataIdleTimeouts.Load())
	promtext.Counter(w, "ftps3_command_errors_total", "Commands answered with an error reply (4xx or 5xx).", m.ErrorReplies.Load())
}

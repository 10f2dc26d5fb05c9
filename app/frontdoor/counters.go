// Package frontdoor holds what every front door (FTPS, SFTP) counts the same
// way: sessions, logins, transfers and bytes. Each front door embeds
// Counters in its own metrics and writes them under its own name prefix.
package frontdoor

import (
	"io"
	"sync/atomic"

	"github.com/ftps3/ftps3/app/promtext"
)

// Counters are a front door's session, login and transfer counts. The zero
// value is ready to use.
type Counters struct {
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
}

// Write writes the counters in Prometheus' text format, named prefix +
// "sessions_active" and so on; protocol names the front door in the help.
func (c *Counters) Write(w io.Writer, prefix, protocol string) {
	type L = map[string]string
	s := func(l L, v *atomic.Int64) promtext.Sample {
		return promtext.Sample{Labels: l, Value: float64(v.Load())}
	}
	promtext.Gauge(w, prefix+"sessions_active", protocol+" sessions connected now.", float64(c.SessionsActive.Load()))
	promtext.Counter(w, prefix+"sessions_total", protocol+" sessions since start.", c.SessionsTotal.Load())
	promtext.Labelled(w, prefix+"logins_total", protocol+" login attempts by result.", "counter",
		s(L{"result": "ok"}, &c.LoginsOK), s(L{"result": "failed"}, &c.LoginsFailed), s(L{"result": "throttled"}, &c.LoginsThrottled))
	promtext.Gauge(w, prefix+"transfers_active", protocol+" uploads and downloads in progress.", float64(c.TransfersActive.Load()))
	promtext.Labelled(w, prefix+"transfers_total", "Finished "+protocol+" transfers by direction and result.", "counter",
		s(L{"direction": "upload", "result": "ok"}, &c.UploadsOK), s(L{"direction": "upload", "result": "failed"}, &c.UploadsFailed),
		s(L{"direction": "download", "result": "ok"}, &c.DownloadsOK), s(L{"direction": "download", "result": "failed"}, &c.DownloadsFailed))
	promtext.Labelled(w, prefix+"transfer_bytes_total", protocol+" bytes moved by direction.", "counter",
		s(L{"direction": "upload"}, &c.BytesUploaded), s(L{"direction": "download"}, &c.BytesDownloaded))
}

// Package health serves what load balancers and operators probe: a TCP port
// that accepts and closes (the NLB health check, as aioftps3's
// HEALTHCHECK_PORT), and HTTP /healthz and /metrics (Prometheus text format).
package health

import (
	"fmt"
	"io"
	"sync/atomic"
)

// Metrics are the gateway's counters. The zero value is ready to use.
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
	CommandErrors   atomic.Int64

	// Gauges read at scrape time (upload buffer memory, pending aborts).
	Gauges func() map[string]float64
}

// WritePrometheus writes the metrics in Prometheus' text exposition format.
func (m *Metrics) WritePrometheus(w io.Writer) {
	counter := func(name, help string, v int64, labels string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s%s %d\n", name, help, name, name, labels, v)
	}
	gauge := func(name, help string, v float64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %g\n", name, help, name, name, v)
	}
	gauge("ftps3_sessions_active", "FTP sessions connected now.", float64(m.SessionsActive.Load()))
	counter("ftps3_sessions_total", "FTP sessions accepted since start.", m.SessionsTotal.Load(), "")
	fmt.Fprintf(w, "# HELP ftps3_logins_total Login attempts by result.\n# TYPE ftps3_logins_total counter\n")
	fmt.Fprintf(w, "ftps3_logins_total{result=\"ok\"} %d\nftps3_logins_total{result=\"failed\"} %d\nftps3_logins_total{result=\"throttled\"} %d\n",
		m.LoginsOK.Load(), m.LoginsFailed.Load(), m.LoginsThrottled.Load())
	gauge("ftps3_transfers_active", "Uploads and downloads in progress.", float64(m.TransfersActive.Load()))
	fmt.Fprintf(w, "# HELP ftps3_transfers_total Finished transfers by direction and result.\n# TYPE ftps3_transfers_total counter\n")
	fmt.Fprintf(w, "ftps3_transfers_total{direction=\"upload\",result=\"ok\"} %d\nftps3_transfers_total{direction=\"upload\",result=\"failed\"} %d\n",
		m.UploadsOK.Load(), m.UploadsFailed.Load())
	fmt.Fprintf(w, "ftps3_transfers_total{direction=\"download\",result=\"ok\"} %d\nftps3_transfers_total{direction=\"download\",result=\"failed\"} %d\n",
		m.DownloadsOK.Load(), m.DownloadsFailed.Load())
	fmt.Fprintf(w, "# HELP ftps3_transfer_bytes_total Bytes moved by direction.\n# TYPE ftps3_transfer_bytes_total counter\n")
	fmt.Fprintf(w, "ftps3_transfer_bytes_total{direction=\"upload\"} %d\nftps3_transfer_bytes_total{direction=\"download\"} %d\n",
		m.BytesUploaded.Load(), m.BytesDownloaded.Load())
	counter("ftps3_command_errors_total", "Commands answered with an error reply.", m.CommandErrors.Load(), "")
	if m.Gauges != nil {
		for name, v := range m.Gauges() {
			gauge(name, name, v)
		}
	}
}

package ftp

import (
	"io"
	"sync/atomic"

	"github.com/ftps3/ftps3/app/frontdoor"
	"github.com/ftps3/ftps3/app/promtext"
)

// Metrics are the FTPS front door's counters. The zero value is ready to use;
// WritePrometheus serves them.
type Metrics struct {
	frontdoor.Counters
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
	// PacedSessions counts sessions whose passive replies are paced
	// (pacing.go).
	PacedSessions atomic.Int64
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
	m.Counters.Write(w, "ftps3_", "FTP")
	promtext.Counter(w, "ftps3_data_connections_refused_total", "Connections to a passive port refused: not from its session (address, TLS session reuse).", m.DataConnsRefused.Load())
	reason := func(r string, v *atomic.Int64) promtext.Sample {
		return promtext.Sample{Labels: map[string]string{"reason": r}, Value: float64(v.Load())}
	}
	promtext.Labelled(w, "ftps3_connections_refused_total", "Control connections refused by the connection limits, by reason.", "counter",
		reason(refusedServerFull, &m.ConnsRefusedServer), reason(refusedAddressFull, &m.ConnsRefusedAddress),
		reason(refusedLoginsQueue, &m.ConnsRefusedPending))
	promtext.Counter(w, "ftps3_login_timeouts_total", "Connections closed for not logging in in time.", m.LoginTimeouts.Load())
	promtext.Counter(w, "ftps3_data_idle_timeouts_total", "Transfers ended because their data connection moved nothing for too long.", m.DataIdleTimeouts.Load())
	promtext.Counter(w, "ftps3_paced_sessions_total", "Sessions whose client came late after a passive reply (curl 7.88's race): their passive replies are paced.", m.PacedSessions.Load())
	promtext.Counter(w, "ftps3_command_errors_total", "Commands answered with an error reply (4xx or 5xx).", m.ErrorReplies.Load())
}

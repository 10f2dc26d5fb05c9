// Package health serves what load balancers and operators probe: a TCP port
// that accepts and closes (the NLB health check, as aioftps3's
// HEALTHCHECK_PORT), and HTTP /healthz and /metrics (Prometheus text format,
// written by whatever sources the gateway hands it), and HTTP /owner/PORT:
// 200 only for a passive data port this task owns, the load balancer's
// health check of a data port's target group when several tasks share it.
package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ftps3/ftps3/app/promtext"
)

// Server is the health check TCP port and the HTTP endpoints.
type Server struct {
	tcp      net.Listener
	http     *http.Server
	httpLn   net.Listener
	draining atomic.Bool
	owned    atomic.Pointer[[2]int] // first data port, count
	log      *slog.Logger
}

// Own declares the passive data ports this task hands out: first up to
// first+count-1. /owner/PORT answers 200 for those alone, while draining
// too: a draining task's sessions still open data connections to it.
func (s *Server) Own(first, count int) { s.owned.Store(&[2]int{first, count}) }

// owner answers whether this task owns the data port in the path.
func (s *Server) owner(w http.ResponseWriter, r *http.Request) {
	port, err := strconv.Atoi(r.PathValue("port"))
	if err != nil || port < 1 || port > 65535 {
		http.Error(w, "not a port", http.StatusBadRequest)
		return
	}
	if o := s.owned.Load(); o == nil || port < o[0] || port >= o[0]+o[1] {
		http.Error(w, "not this task's port", http.StatusNotFound)
		return
	}
	io.WriteString(w, "owner\n")
}

// Start listens on the TCP health port (0: none) and the HTTP address ("" or
// "off": none). pprof adds Go's profiling endpoints under /debug/pprof/.
// /metrics serves whatever m writes.
func Start(tcpAddr, httpAddr string, m promtext.Source, pprof bool, log *slog.Logger) (*Server, error) {
	s := &Server{log: log}
	if tcpAddr != "" {
		l, err := net.Listen("tcp", tcpAddr)
		if err != nil {
			return nil, fmt.Errorf("health check port: %w", err)
		}
		s.tcp = l
		go s.acceptAndClose()
	}
	if httpAddr != "" && httpAddr != "off" {
		l, err := net.Listen("tcp", httpAddr)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("HTTP health address: %w", err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
			if s.draining.Load() {
				http.Error(w, "draining", http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, "ok\n")
		})
		mux.HandleFunc("GET /owner/{port}", s.owner)
		mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			m.WritePrometheus(w)
		})
		if pprof {
			mux.HandleFunc("/debug/pprof/", httppprof.Index)
			mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
			mux.HandleFunc("/debug/pprof/trace", httppprof.Trace)
		}
		s.httpLn = l
		s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go s.http.Serve(l)
	}
	return s, nil
}

// TCPAddr and HTTPAddr are the bound addresses (nil when not serving).
func (s *Server) TCPAddr() net.Addr {
	if s.tcp == nil {
		return nil
	}
	return s.tcp.Addr()
}

func (s *Server) HTTPAddr() net.Addr {
	if s.httpLn == nil {
		return nil
	}
	return s.httpLn.Addr()
}

func (s *Server) acceptAndClose() {
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Warn("health check accept", "err", err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return
		}
		c.Close()
	}
}

// Drain makes the checks fail so load balancers stop sending new clients:
// the TCP port closes and /healthz answers 503.
func (s *Server) Drain() {
	s.draining.Store(true)
	if s.tcp != nil {
		s.tcp.Close()
	}
}

// Close stops everything.
func (s *Server) Close() {
	s.Drain()
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s.http.Shutdown(ctx)
	}
}

// Command ftps3 is an FTPS gateway to Amazon S3 (or any S3-compatible store,
// or a local directory): FTP over TLS, implicit and explicit, passive mode;
// uploads stream to S3 as multipart uploads with bounded memory, and nothing
// partial is ever left visible.
//
// Configuration comes from environment variables (aioftps3's, plus FTP_*
// settings): see README.md. With none, it serves ./data with a generated user.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	// Mozilla's root certificates, used when the system has none (the
	// image is FROM scratch): S3's certificate is verified either way.
	_ "golang.org/x/crypto/x509roots/fallback"

	"github.com/ftps3/ftps3/app/auth"
	"github.com/ftps3/ftps3/app/config"
	"github.com/ftps3/ftps3/app/health"
	"github.com/ftps3/ftps3/app/promtext"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "hash-password" {
		os.Exit(hashPassword(os.Stdin, os.Stdout, os.Stderr))
	}
	healthcheck := flag.Bool("healthcheck", false, "probe the running gateway's /healthz (for container health checks) and exit 0 if healthy")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [-healthcheck]\n       %s hash-password   (prints a bcrypt hash for the user list)\n\nftps3 is configured by environment variables; see README.md.\n", os.Args[0], os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if *healthcheck {
		os.Exit(probe())
	}
	if err := run(context.Background(), os.Environ(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ftps3:", err)
		os.Exit(1)
	}
}

// run starts the gateway and serves until SIGTERM or SIGINT (or ctx ends),
// then drains. Each step is a function of its own (gateway.go).
func run(ctx context.Context, environ []string, out io.Writer) error {
	cfg, err := config.Load(environ)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := newLogger(cfg, out)

	st, err := openStorage(ctx, cfg, log)
	if err != nil {
		return err
	}
	gcCtx, stopGCPacing := context.WithCancel(ctx)
	defer stopGCPacing()
	go paceGC(gcCtx, st.pool)
	users, reloader, err := loadUsers(ctx, cfg, log)
	if err != nil {
		return err
	}
	throttle := newThrottle(cfg)
	ftpSrv, ftpMetrics, err := newFTPServer(cfg, st, users.For(auth.ProtocolFTP), throttle, log)
	if err != nil {
		return err
	}
	sftpSrv, sftpMetrics, hostKey, err := newSFTPServer(cfg, st, users.For(auth.ProtocolSFTP), throttle, log)
	if err != nil {
		return err
	}
	// A reload that removes or disables users closes their sessions.
	reloader.Revoked = func(logins []string) {
		log.Info("closing the sessions of removed users", "users", strings.Join(logins, ","))
		ftpSrv.CloseSessionsOf(logins)
		if sftpSrv != nil {
			sftpSrv.CloseSessionsOf(logins)
		}
	}
	rctx, stopReload := context.WithCancel(ctx)
	defer stopReload()
	go reloadUsers(rctx, cfg, reloader)
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.CommandPort))
	if err != nil {
		return fmt.Errorf("FTP_COMMAND_PORT %d: %w", cfg.CommandPort, err)
	}
	var sftpLn net.Listener
	sources := promtext.Sources{ftpMetrics, st, reloader}
	if sftpSrv != nil {
		if sftpLn, err = net.Listen("tcp", ":"+strconv.Itoa(cfg.SFTPPort)); err != nil {
			ln.Close()
			return fmt.Errorf("SFTP_PORT %d: %w", cfg.SFTPPort, err)
		}
		sources = append(sources, sftpMetrics)
	}
	hs, err := health.Start(":"+strconv.Itoa(cfg.HealthcheckPort), cfg.HTTPAddr, sources, cfg.HTTPPprof, log)
	if err != nil {
		ln.Close()
		if sftpLn != nil {
			sftpLn.Close()
		}
		return fmt.Errorf("HEALTHCHECK_PORT/FTP_HTTP_ADDR: %w", err)
	}
	// The load balancer asks each task which passive ports it owns.
	hs.Own(cfg.DataPortsFirst, cfg.DataPortsCount)
	defer hs.Close()

	served := make(chan error, 2)
	go func() { served <- ftpSrv.Serve(ln) }()
	if sftpSrv != nil {
		go func() { served <- sftpSrv.Serve(sftpLn) }()
	}
	announce(cfg, st, log, out)
	announceSFTP(cfg, hostKey, log, out)

	if err := waitForStop(ctx, served, log, cfg.ShutdownGrace); err != nil {
		return err
	}
	hs.Drain()
	gctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	sftpDone := make(chan struct{})
	go func() {
		defer close(sftpDone)
		if sftpSrv != nil {
			if err := sftpSrv.Shutdown(gctx); err != nil {
				log.Warn("shutdown", "protocol", "sftp", "err", err)
			}
		}
	}()
	if err := ftpSrv.Shutdown(gctx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	<-sftpDone
	st.close(log)
	log.Info("stopped")
	return nil
}

// waitForStop returns when a signal arrives, ctx ends, or the server stops
// on its own (an error then).
func waitForStop(ctx context.Context, served <-chan error, log *slog.Logger, grace time.Duration) error {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	select {
	case s := <-sig:
		log.Info("signal received: draining", "signal", s.String(), "grace", grace.String())
	case err := <-served:
		if err != nil {
			return fmt.Errorf("serving: %w", err)
		}
	case <-ctx.Done():
	}
	return nil
}

// announce logs what is served and, for the embedded default, prints the
// development user and the commands that connect.
func announce(cfg *config.Config, st *storageSetup, log *slog.Logger, out io.Writer) {
	log.Info("ftps3 serving", "command_port", cfg.CommandPort, "tls", cfg.TLSMode,
		"data_ports", fmt.Sprintf("%d-%d", cfg.DataPortsFirst, cfg.DataPortsFirst+cfg.DataPortsCount-1),
		"storage", st.where, "users", len(cfg.Users), "healthcheck_port", cfg.HealthcheckPort, "http", cfg.HTTPAddr)
	// Go raises the soft limit on open files to the hard one at start; each
	// session may use a control, a data and a store connection.
	var nofile syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile); err == nil && nofile.Cur < uint64(3*cfg.MaxConns+100) {
		log.Warn("the open files limit is low for FTP_MAX_CONNECTIONS: raise it (ulimit -n, or the container's nofile ulimit)",
			"limit", nofile.Cur, "max_connections", cfg.MaxConns)
	}
	if u := cfg.DevUser; u != nil {
		fmt.Fprintf(out, "\nDevelopment user: %s / %s (serving %s)\nTry:\n  curl -k --ssl-reqd ftps://%s:%s@127.0.0.1:%d/ -T README.md\n  curl -k ftps://%s:%s@127.0.0.1:%d/\n  lftp -e 'set ssl:verify-certificate no; ls; bye' -u %s,%s ftps://127.0.0.1:%d\n\n",
			u.Login, u.Password, st.where,
			u.Login, u.Password, cfg.CommandPort,
			u.Login, u.Password, cfg.CommandPort,
			u.Login, u.Password, cfg.CommandPort)
	}
}

func newLogger(cfg *config.Config, out io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(out, opts))
	}
	return slog.New(slog.NewTextHandler(out, opts))
}

// probe asks the local gateway's /healthz (FTP_HTTP_ADDR).
func probe() int {
	addr := os.Getenv("FTP_HTTP_ADDR")
	if addr == "" {
		addr = ":8080"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FTP_HTTP_ADDR:", err)
		return 1
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + net.JoinHostPort(host, port) + "/healthz")
	if err != nil {
		fmt.Fprintln(os.Stderr, "unhealthy:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "unhealthy:", resp.Status)
		return 1
	}
	return 0
}

package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"

	"golang.org/x/crypto/ssh"

	"github.com/ftps3/ftps3/app/auth"
	"github.com/ftps3/ftps3/app/config"
	"github.com/ftps3/ftps3/app/sftp"
	"github.com/ftps3/ftps3/app/storage/digest"
)

// newThrottle is the failed-login throttle both front doors share: keyed by
// client address, so guessing over one protocol locks out both.
func newThrottle(cfg *config.Config) *auth.Throttle {
	return auth.NewThrottle(cfg.LoginMaxFailures, cfg.LoginLockout, cfg.LoginLockout)
}

// newSFTPServer maps the configuration onto the SFTP front door; nil when
// SFTP_PORT is off.
func newSFTPServer(cfg *config.Config, st *storageSetup, users *auth.Users, throttle *auth.Throttle, log *slog.Logger) (*sftp.Server, *sftp.Metrics, ssh.Signer, error) {
	if cfg.SFTPPort == 0 {
		return nil, nil, nil, nil
	}
	key, err := hostKey(cfg, log)
	if err != nil {
		return nil, nil, nil, err
	}
	metrics := &sftp.Metrics{}
	srv, err := sftp.New(sftp.Options{
		FS:    st.fs,
		Users: users, Throttle: throttle, HostKeys: []ssh.Signer{key},
		Checksums:   answeredChecksums(cfg.Checksums),
		IdleTimeout: cfg.IdleTimeout, Metrics: metrics, Logger: log.With("protocol", "sftp"),
	})
	return srv, metrics, key, err
}

// answeredChecksums are the algorithms a checksum can be given for: those
// recorded at upload, or all when missing ones are computed.
func answeredChecksums(c config.Checksums) []digest.Algorithm {
	if c.ComputeMissing {
		return digest.All
	}
	return c.Algorithms
}

// hostKey loads the SFTP host key, or generates one and keeps it.
func hostKey(cfg *config.Config, log *slog.Logger) (ssh.Signer, error) {
	switch {
	case cfg.SFTPHostKeyPEM != "":
		k, err := sftp.ParseHostKey([]byte(cfg.SFTPHostKeyPEM))
		if err != nil {
			return nil, fmt.Errorf("SFTP_HOST_KEY_PEM: %w", err)
		}
		return k, nil
	case cfg.SFTPHostKeySeed != "":
		return sftp.HostKeyFromSeed(cfg.SFTPHostKeySeed)
	case cfg.SFTPHostKeyGenerate:
		k, generated, err := sftp.LoadOrGenerateHostKey(cfg.SFTPHostKeyFile)
		if err != nil {
			// A read-only file system (the image's root): serve with a key
			// of this run only, and say so.
			if k, err = sftp.HostKeyFromSeed(rand.Text() + rand.Text()); err != nil {
				return nil, err
			}
			log.Warn("cannot keep a generated SFTP host key: using one for this run only (its fingerprint changes at every start); set SFTP_HOST_KEY_FILE, SFTP_HOST_KEY_PEM or SFTP_HOST_KEY_SEED",
				"file", cfg.SFTPHostKeyFile, "fingerprint", sftp.Fingerprint(k))
			return k, nil
		}
		if generated {
			log.Warn("no SFTP_HOST_KEY_FILE/SFTP_HOST_KEY_PEM: generated an SFTP host key", "file", cfg.SFTPHostKeyFile, "fingerprint", sftp.Fingerprint(k))
		}
		return k, nil
	default:
		k, err := sftp.LoadHostKey(cfg.SFTPHostKeyFile)
		if err != nil {
			return nil, fmt.Errorf("SFTP_HOST_KEY_FILE: %w", err)
		}
		return k, nil
	}
}

// announceSFTP logs the SFTP port and host key fingerprint and, for the
// embedded default, prints the command that connects.
func announceSFTP(cfg *config.Config, key ssh.Signer, log *slog.Logger, out io.Writer) {
	if key == nil {
		return
	}
	fp := sftp.Fingerprint(key)
	log.Info("sftp serving", "sftp_port", cfg.SFTPPort, "host_key", fp)
	if u := cfg.DevUser; u != nil {
		fmt.Fprintf(out, "SFTP host key %s %s\n  sftp -P %d %s@127.0.0.1\n\n", key.PublicKey().Type(), fp, cfg.SFTPPort, u.Login)
	}
}

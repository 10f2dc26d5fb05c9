package main

import (
	"crypto/tls"
	"fmt"
	"os"

	"github.com/ftps3/ftps3/app/config"
	"github.com/ftps3/ftps3/app/tlscert"
)

// tlsConfig loads the certificate, or makes a self-signed one for the
// embedded default when none is at aioftps3's default place.
func tlsConfig(c *config.Config) (*tls.Config, bool, error) {
	var cert tls.Certificate
	var err error
	generated := false
	switch {
	case c.TLSCertPEM != "":
		cert, err = tls.X509KeyPair([]byte(c.TLSCertPEM), []byte(c.TLSKeyPEM))
		if err != nil {
			err = fmt.Errorf("FTP_TLS_CERT_PEM/FTP_TLS_KEY_PEM: %w", err)
		}
	case c.TLSGenerate:
		host, _ := os.Hostname()
		cert, err = tlscert.SelfSigned(host)
		generated = true
	default:
		cert, err = tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
		if err != nil {
			err = fmt.Errorf("FTP_TLS_CERT_FILE/FTP_TLS_KEY_FILE (%s, %s): %w", c.TLSCertFile, c.TLSKeyFile, err)
		}
	}
	if err != nil {
		return nil, false, err
	}
	min := uint16(tls.VersionTLS12)
	if c.TLSMinVersion == "1.3" {
		min = tls.VersionTLS13
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: min}, generated, nil
}

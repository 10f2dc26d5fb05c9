package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"

	"github.com/ftps3/ftps3/app/config"
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
		cert, err = selfSigned()
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

func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "ftps3 development certificate"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost", host},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

package sftp

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
)

// ParseHostKey reads a private host key in PEM form (OpenSSH's format, or
// PKCS#1/PKCS#8/SEC 1): ed25519, ECDSA or RSA. An RSA key signs with
// SHA-2 only (rsa-sha2-256/512), never ssh-rsa's SHA-1.
func ParseHostKey(pemBytes []byte) (ssh.Signer, error) {
	s, err := ssh.ParsePrivateKey(pemBytes)
	if err != nil {
		return nil, err
	}
	switch s.PublicKey().Type() {
	case ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521:
		return s, nil
	case ssh.KeyAlgoRSA:
		as, ok := s.(ssh.AlgorithmSigner)
		if !ok {
			return nil, errors.New("RSA host key cannot sign with SHA-2")
		}
		return ssh.NewSignerWithAlgorithms(as, []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256})
	}
	return nil, fmt.Errorf("host key type %s is not supported (use ed25519, ECDSA or RSA)", s.PublicKey().Type())
}

// LoadOrGenerateHostKey reads the host key at path or, when there is none,
// makes an ed25519 key and keeps it there (mode 0600, its directory
// created), so the fingerprint clients remember stays the same across
// restarts. generated says a new key was made.
func LoadOrGenerateHostKey(path string) (s ssh.Signer, generated bool, err error) {
	data, err := os.ReadFile(path)
	if err == nil {
		s, err := ParseHostKey(data)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", path, err)
		}
		return s, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, false, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "ftps3 host key")
	if err != nil {
		return nil, false, err
	}
	data = pem.EncodeToMemory(block)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, err
	}
	// O_EXCL: two gateways starting on one directory keep one key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadOrGenerateHostKey(path)
	}
	if err != nil {
		return nil, false, err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return nil, false, err
	}
	if err := f.Close(); err != nil {
		return nil, false, err
	}
	s, err = ParseHostKey(data)
	return s, true, err
}

// Fingerprint is the SHA256 fingerprint clients show ("SHA256:...").
func Fingerprint(s ssh.Signer) string { return ssh.FingerprintSHA256(s.PublicKey()) }

// LoadHostKey reads the host key at path.
func LoadHostKey(path string) (ssh.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseHostKey(data)
}

// HostKeyFromSeed derives an ed25519 host key from secret text (its
// SHA-256 is the key's seed): every gateway given the same text has the
// same key. It lets a deployment keep its host key in a secret that
// Secrets Manager generates, with no key-generating step.
func HostKeyFromSeed(seed string) (ssh.Signer, error) {
	sum := sha256.Sum256([]byte(seed))
	return ssh.NewSignerFromKey(ed25519.NewKeyFromSeed(sum[:]))
}

package sftp_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"

	gw "github.com/ftps3/ftps3/app/sftp"
)

// The generated host key is kept and read back: the same fingerprint after
// a restart; a key derived from a seed is the same for every gateway; an
// RSA key signs with SHA-2 only.
func TestHostKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "host")
	k1, gen1, err := gw.LoadOrGenerateHostKey(path)
	must(t, err)
	k2, gen2, err := gw.LoadOrGenerateHostKey(path)
	must(t, err)
	if !gen1 || gen2 || gw.Fingerprint(k1) != gw.Fingerprint(k2) || k1.PublicKey().Type() != ssh.KeyAlgoED25519 {
		t.Errorf("generated %v then %v; %s vs %s", gen1, gen2, gw.Fingerprint(k1), gw.Fingerprint(k2))
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", fi.Mode())
	}
	a, _ := gw.HostKeyFromSeed("a seed of at least thirty-two characters")
	b, _ := gw.HostKeyFromSeed("a seed of at least thirty-two characters")
	c, _ := gw.HostKeyFromSeed("another seed of at least thirty-two characters")
	if gw.Fingerprint(a) != gw.Fingerprint(b) || gw.Fingerprint(a) == gw.Fingerprint(c) {
		t.Error("seeded keys are not deterministic")
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	block, err := ssh.MarshalPrivateKey(rk, "")
	must(t, err)
	s, err := gw.ParseHostKey(pem.EncodeToMemory(block))
	must(t, err)
	if _, err := s.(ssh.AlgorithmSigner).SignWithAlgorithm(rand.Reader, []byte("x"), ssh.KeyAlgoRSA); err == nil {
		t.Error("the RSA host key signs with SHA-1")
	}
	if _, err := gw.ParseHostKey([]byte("not a key")); err == nil {
		t.Error("garbage parsed as a host key")
	}
}

// Clients limited to legacy algorithms cannot connect.
func TestLegacyAlgorithmsRefused(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file"})
	for name, cfg := range map[string]ssh.Config{
		"sha1 kex":  {KeyExchanges: []string{ssh.InsecureKeyExchangeDH14SHA1}},
		"cbc":       {Ciphers: []string{ssh.InsecureCipherAES128CBC}},
		"hmac-sha1": {Ciphers: []string{ssh.CipherAES128CTR}, MACs: []string{ssh.HMACSHA1}},
	} {
		cc := &ssh.ClientConfig{Config: cfg, User: alice, Auth: []ssh.AuthMethod{ssh.Password(alicePass)},
			HostKeyCallback: ssh.InsecureIgnoreHostKey()} //nolint:gosec // test
		if c, err := ssh.Dial("tcp", g.addr, cc); err == nil {
			c.Close()
			t.Errorf("%s: connected", name)
		}
	}
}

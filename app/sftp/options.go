package sftp

import (
	"log/slog"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ftps3/ftps3/app/auth"
	"github.com/ftps3/ftps3/app/objfs"
	"github.com/ftps3/ftps3/app/storage/digest"
)

// Options configure a Server.
type Options struct {
	FS       *objfs.FS // the shared file-system view over the store
	Users    *auth.Users
	Throttle *auth.Throttle // shared with the FTPS front door: keyed by address
	// HostKeys identify the server (HostKey, LoadHostKey make them).
	HostKeys []ssh.Signer

	// WriteWindow bounds how far ahead of the next byte an upload's write
	// may start and end: writes that arrive out of order inside it are
	// held until the gap before them is filled (default 8 MiB; OpenSSH
	// keeps at most 64 × 32 KiB = 2 MiB in flight).
	WriteWindow int64
	// ReadAhead is how much a download reads ahead of the client and
	// keeps behind it, for reads that arrive out of order (default 4 MiB).
	ReadAhead int

	// Checksums are the algorithms the checksum commands (sumcmd.go)
	// answer for: those every upload records (CHECKSUMS), or all of them
	// when missing ones are computed. A command for another is refused,
	// even on no file: clients such as rclone run md5sum and sha1sum on
	// empty input to learn which checksums a server gives, then ask for one
	// after each upload, and take a failure as a corrupted upload. None:
	// every checksum command is refused.
	Checksums []digest.Algorithm

	// IdleTimeout closes a connection that sent nothing for that long
	// (0: never).
	IdleTimeout time.Duration
	// LoginFailureDelay slows password guessing (default 1 s).
	LoginFailureDelay time.Duration
	// MaxAuthTries is the number of authentication attempts per
	// connection (default 6).
	MaxAuthTries int

	Metrics *Metrics
	Logger  *slog.Logger
}

// Algorithms the server offers: modern ones only. Key exchange on
// curve25519 or ECDH (and the ML-KEM hybrid), AES-GCM or AES-CTR with
// encrypt-then-MAC, host keys ed25519, ECDSA or RSA with SHA-2.
var (
	KeyExchanges = []string{ssh.KeyExchangeMLKEM768X25519, ssh.KeyExchangeCurve25519,
		ssh.KeyExchangeECDHP256, ssh.KeyExchangeECDHP384, ssh.KeyExchangeECDHP521}
	// chacha20-poly1305 is not offered: Go's ChaCha20 has no assembly on
	// amd64 and it costs twice AES-GCM's CPU per byte here
	// (BenchmarkCiphers), and the client's preference picks the cipher:
	// OpenSSH, which prefers it, then uses AES-CTR with an ETM MAC.
	Ciphers = []string{ssh.CipherAES128GCM, ssh.CipherAES256GCM,
		ssh.CipherAES128CTR, ssh.CipherAES192CTR, ssh.CipherAES256CTR}
	MACs = []string{ssh.HMACSHA256ETM, ssh.HMACSHA512ETM}
	// PublicKeyAlgorithms are the client key signatures accepted.
	PublicKeyAlgorithms = []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384,
		ssh.KeyAlgoECDSA521, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSASHA512}
)

// serverVersion is the SSH identification string.
const serverVersion = "SSH-2.0-ftps3"

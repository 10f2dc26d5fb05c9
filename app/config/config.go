// Package config reads the gateway's configuration from environment
// variables. aioftps3's variables keep their meaning, so an aioftps3
// deployment can switch by changing the image; new settings use the FTP_
// prefix. Every error names its variable and says what is wrong.
package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ftps3/ftps3/app/auth"
	"github.com/ftps3/ftps3/app/storage/s3store"
)

// TLS modes of the command port.
const (
	TLSAuto     = "auto"     // implicit or explicit, told apart by the first byte
	TLSImplicit = "implicit" // TLS from the first byte (ftps://)
	TLSExplicit = "explicit" // plaintext banner, then AUTH TLS
)

// Values of FTP_TLS_SESSION_REUSE: must data connections resume the control
// connection's TLS session?
const (
	TLSReuseRequired = "required"
	TLSReuseOptional = "optional"
)

// PassiveFromEC2 as a FTP_DATA_CIDR_TO_DOMAINS__i__DOMAIN means: the private
// IPv4 of the host this runs on, from the ECS container metadata file when
// ECS provides one, else from EC2 instance metadata (IMDSv2).
const PassiveFromEC2 = "@ec2-local-ipv4"

// DataCIDR maps client networks to the address sent in PASV replies.
type DataCIDR struct {
	Net *net.IPNet
	// Domain is a host name to resolve, an IPv4 literal, or PassiveFromEC2.
	Domain string
}

// S3 says where the bucket is and how to sign in.
type S3 struct {
	Bucket, Region  string
	Endpoint        string // "" for AWS
	PathStyle       bool
	VerifyCerts     bool
	AccessKeyID     string
	SecretAccessKey string
	DirSuffix       string
}

// Config is the whole configuration.
type Config struct {
	CommandPort    int
	DataPortsFirst int
	DataPortsCount int
	DataCIDRs      []DataCIDR

	TLSMode       string
	TLSCertFile   string
	TLSKeyFile    string
	TLSCertPEM    string // certificate chain and key as PEM text (e.g. from a secret)
	TLSKeyPEM     string
	TLSGenerate   bool // no certificate at the default place: make a self-signed one
	TLSMinVersion string
	TLSReuse      string // TLSReuseRequired or TLSReuseOptional

	// SFTP: the port (0 when SFTP_PORT is off) and the host key: a file, PEM
	// text, or (neither set) a key generated once and kept at
	// SFTPHostKeyFile.
	SFTPPort            int
	SFTPHostKeyFile     string
	SFTPHostKeyPEM      string
	SFTPHostKeySeed     string // random text the ed25519 host key is derived from
	SFTPHostKeyGenerate bool

	HealthcheckPort int
	HTTPAddr        string
	HTTPPprof       bool

	Storage    string // "s3" or "file"
	StorageDir string
	S3         S3

	// Users are every user known at start: StaticUsers (the environment's)
	// and those of UsersFile. UsersFile and UsersSecretID are read again
	// every UsersReloadInterval (auth.Reloader); the secret only then.
	Users               []auth.User
	StaticUsers         []auth.User
	UsersFile           string
	UsersSecretID       string
	UsersReloadInterval time.Duration
	fromFile            map[string]bool
	DevUser             *DevUser // set when a development user was generated

	UploadPartSize     int64
	UploadMemoryLimit  int64
	UploadBuffers      int
	UploadMaxBuffers   int
	RequireCloseNotify bool
	UploadStaleAge     time.Duration // abort incomplete multipart uploads idle this long at start (0: never)
	Checksums          Checksums     // checksums.go
	ResumeWindow       time.Duration // keep cut uploads this long for resuming (0: abort them)

	IdleTimeout      time.Duration
	LoginTimeout     time.Duration
	DataIdleTimeout  time.Duration
	MaxConns         int // control connections in all
	MaxConnsPerAddr  int // per client address
	MaxPendingLogins int // per client address, before login
	ShutdownGrace    time.Duration
	LoginMaxFailures int
	LoginLockout     time.Duration

	LogFormat string
	LogLevel  string
}

// DevUser is the generated login of the embedded default.
type DevUser struct{ Login, Password string }

// Load reads the configuration from environ (os.Environ() form).
func Load(environ []string) (*Config, error) {
	e := newEnv(environ)
	c := &Config{}

	c.CommandPort = e.port("FTP_COMMAND_PORT", 8021)
	c.DataPortsFirst = e.port("FTP_DATA_PORTS_FIRST", 8022)
	c.DataPortsCount = e.intRange("FTP_DATA_PORTS_COUNT", 20, 1, 1000)
	if last := c.DataPortsFirst + c.DataPortsCount - 1; last > 65535 {
		e.errorf("FTP_DATA_PORTS_COUNT", "ports %d..%d go past 65535", c.DataPortsFirst, last)
	}
	if c.CommandPort >= c.DataPortsFirst && c.CommandPort < c.DataPortsFirst+c.DataPortsCount {
		e.errorf("FTP_COMMAND_PORT", "%d is inside the data port range %d..%d", c.CommandPort, c.DataPortsFirst, c.DataPortsFirst+c.DataPortsCount-1)
	}
	for _, m := range e.indexed("FTP_DATA_CIDR_TO_DOMAINS") {
		name := "FTP_DATA_CIDR_TO_DOMAINS__" + m[""]
		n, err := parseCIDR(m["CIDR"])
		if err != nil {
			e.errorf(name+"__CIDR", "%q is not a CIDR (e.g. 10.0.0.0/8)", m["CIDR"])
			continue
		}
		if m["DOMAIN"] == "" {
			e.errorf(name+"__DOMAIN", "missing: the host name or IPv4 to send in PASV replies to %s", n)
			continue
		}
		if ip := net.ParseIP(m["DOMAIN"]); ip != nil && ip.To4() == nil {
			e.errorf(name+"__DOMAIN", "%q is IPv6; PASV replies carry IPv4 only (clients on IPv6 use EPSV)", m["DOMAIN"])
			continue
		}
		c.DataCIDRs = append(c.DataCIDRs, DataCIDR{Net: n, Domain: m["DOMAIN"]})
	}

	c.TLSMode = e.oneOf("FTP_TLS_MODE", TLSAuto, TLSAuto, TLSImplicit, TLSExplicit)
	c.TLSMinVersion = e.oneOf("FTP_TLS_MIN_VERSION", "1.2", "1.2", "1.3")
	c.TLSReuse = e.oneOf("FTP_TLS_SESSION_REUSE", TLSReuseRequired, TLSReuseRequired, TLSReuseOptional)
	home, _ := os.UserHomeDir()
	cert, certSet := e.lookup("FTP_TLS_CERT_FILE")
	key, keySet := e.lookup("FTP_TLS_KEY_FILE")
	if !certSet {
		cert = filepath.Join(home, "ssl.crt") // aioftps3's place
	}
	if !keySet {
		key = filepath.Join(home, "ssl.key")
	}
	c.TLSCertFile, c.TLSKeyFile = cert, key
	_, certErr := os.Stat(cert)
	_, keyErr := os.Stat(key)
	c.TLSCertPEM, c.TLSKeyPEM = e.str("FTP_TLS_CERT_PEM", ""), e.str("FTP_TLS_KEY_PEM", "")
	switch {
	case c.TLSCertPEM != "" || c.TLSKeyPEM != "":
		if c.TLSCertPEM == "" {
			e.errorf("FTP_TLS_CERT_PEM", "missing: FTP_TLS_KEY_PEM is set")
		}
		if c.TLSKeyPEM == "" {
			e.errorf("FTP_TLS_KEY_PEM", "missing: FTP_TLS_CERT_PEM is set")
		}
	case certErr == nil && keyErr == nil:
	case certSet && certErr != nil:
		e.errorf("FTP_TLS_CERT_FILE", "cannot read %s: %v", cert, certErr)
	case keySet && keyErr != nil:
		e.errorf("FTP_TLS_KEY_FILE", "cannot read %s: %v", key, keyErr)
	default:
		c.TLSGenerate = true
	}

	c.HealthcheckPort = e.port("HEALTHCHECK_PORT", 8081)
	c.HTTPAddr = e.str("FTP_HTTP_ADDR", ":8080")
	if c.HTTPAddr != "off" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			e.errorf("FTP_HTTP_ADDR", "%q is not host:port (e.g. :8080) or off", c.HTTPAddr)
		}
	}

	c.HTTPPprof = e.boolean("FTP_HTTP_PPROF", false)

	c.S3 = loadS3(e)
	defStorage := "file"
	if c.S3.Bucket != "" {
		defStorage = "s3"
	}
	c.Storage = e.oneOf("FTP_STORAGE", defStorage, "s3", "file")
	c.StorageDir = e.str("FTP_STORAGE_DIR", "./data")
	loadSFTP(e, c)
	loadChecksums(e, c)
	if c.Storage == "s3" && c.S3.Bucket == "" {
		e.errorf("AWS_S3_BUCKET_NAME", "missing: FTP_STORAGE is s3")
	}

	c.fromFile = map[string]bool{}
	c.Users = loadUsersInto(e, c.fromFile)
	c.UsersFile = e.str("FTP_USERS_FILE", "")
	c.UsersSecretID = e.str("FTP_USERS_SECRET_ID", "")
	c.UsersReloadInterval = e.duration("FTP_USERS_RELOAD_INTERVAL", time.Minute)
	if c.UsersReloadInterval != 0 && c.UsersReloadInterval < time.Second {
		e.errorf("FTP_USERS_RELOAD_INTERVAL", "%s is too short (at least 1s, or 0 to reload on SIGHUP only)", c.UsersReloadInterval)
	}
	for _, u := range c.Users {
		if !c.fromFile[u.Login] {
			c.StaticUsers = append(c.StaticUsers, u)
		}
	}
	if len(c.Users) == 0 && c.UsersSecretID == "" {
		if c.Storage == "s3" {
			e.errorf("FTP_USERS__0__LOGIN", "no users configured: set FTP_USERS__0__LOGIN and FTP_USERS__0__PASSWORD (or PASSWORD_HASHED), FTP_USERS_JSON, FTP_USERS_FILE or FTP_USERS_SECRET_ID")
		} else {
			var b [9]byte
			rand.Read(b[:])
			c.DevUser = &DevUser{Login: "ftps3", Password: hex.EncodeToString(b[:])}
			c.Users = []auth.User{{Login: c.DevUser.Login, Password: auth.Plain(c.DevUser.Password)}}
			c.StaticUsers = c.Users
		}
	}

	c.UploadPartSize = e.size("FTP_UPLOAD_PART_SIZE", 6<<20)
	if c.UploadPartSize < s3store.MinPartSize || c.UploadPartSize > s3store.MaxPartSize {
		e.errorf("FTP_UPLOAD_PART_SIZE", "%d bytes is outside S3's part sizes (5MiB to 5GiB)", c.UploadPartSize)
	}
	c.UploadBuffers = e.intRange("FTP_UPLOAD_BUFFERS", 2, 2, 64)
	c.UploadMaxBuffers = e.intRange("FTP_UPLOAD_MAX_BUFFERS", max(5, c.UploadBuffers), 2, 64)
	if c.UploadMaxBuffers < c.UploadBuffers {
		e.errorf("FTP_UPLOAD_MAX_BUFFERS", "%d is below FTP_UPLOAD_BUFFERS (%d)", c.UploadMaxBuffers, c.UploadBuffers)
	}
	c.UploadMemoryLimit = e.size("FTP_UPLOAD_MEMORY_LIMIT", 512<<20)
	if c.UploadMemoryLimit < c.UploadPartSize*int64(c.UploadBuffers) {
		e.errorf("FTP_UPLOAD_MEMORY_LIMIT", "%d bytes is less than one upload needs (FTP_UPLOAD_PART_SIZE × FTP_UPLOAD_BUFFERS = %d)", c.UploadMemoryLimit, c.UploadPartSize*int64(c.UploadBuffers))
	}
	c.RequireCloseNotify = e.boolean("FTP_UPLOAD_REQUIRE_CLOSE_NOTIFY", true)
	c.ResumeWindow = e.duration("UPLOAD_RESUME_WINDOW", 24*time.Hour)
	// The cleanup must leave pending uploads alone for their whole window:
	// by default a day past it.
	c.UploadStaleAge = e.duration("FTP_UPLOAD_STALE_AGE", max(24*time.Hour, c.ResumeWindow+24*time.Hour))
	switch {
	case c.UploadStaleAge != 0 && c.UploadStaleAge < time.Hour:
		e.errorf("FTP_UPLOAD_STALE_AGE", "%s is too short: an upload that slow may still be running (at least 1h, or 0 to turn the cleanup off)", c.UploadStaleAge)
	case c.UploadStaleAge != 0 && c.UploadStaleAge < c.ResumeWindow:
		e.errorf("FTP_UPLOAD_STALE_AGE", "%s is shorter than UPLOAD_RESUME_WINDOW (%s): the cleanup would take uploads kept for resuming", c.UploadStaleAge, c.ResumeWindow)
	}

	c.IdleTimeout = e.duration("FTP_IDLE_TIMEOUT", 15*time.Minute)
	c.LoginTimeout = e.duration("FTP_LOGIN_TIMEOUT", time.Minute)
	c.DataIdleTimeout = e.duration("FTP_DATA_IDLE_TIMEOUT", 2*time.Minute)
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"FTP_LOGIN_TIMEOUT", c.LoginTimeout}, {"FTP_DATA_IDLE_TIMEOUT", c.DataIdleTimeout}} {
		if d.v < time.Second {
			e.errorf(d.name, "%s is too short (at least 1s)", d.v)
		}
	}
	c.MaxConns = e.intRange("FTP_MAX_CONNECTIONS", 1000, 1, 1_000_000)
	c.MaxConnsPerAddr = e.intRange("FTP_MAX_CONNECTIONS_PER_ADDRESS", 100, 1, 1_000_000)
	c.MaxPendingLogins = e.intRange("FTP_MAX_LOGINS_PENDING_PER_ADDRESS", 20, 1, 1_000_000)
	c.ShutdownGrace = e.duration("FTP_SHUTDOWN_GRACE", 25*time.Second)
	c.LoginMaxFailures = e.intRange("FTP_LOGIN_MAX_FAILURES", 10, 1, 1000)
	c.LoginLockout = e.duration("FTP_LOGIN_LOCKOUT", 10*time.Minute)

	c.LogFormat = e.oneOf("FTP_LOG_FORMAT", "text", "text", "json")
	c.LogLevel = e.oneOf("FTP_LOG_LEVEL", "info", "debug", "info", "warn", "error")

	if err := e.err(); err != nil {
		return nil, err
	}
	return c, nil
}

func loadS3(e *env) S3 {
	s := S3{
		Bucket:      e.str("AWS_S3_BUCKET_NAME", ""),
		Region:      e.str("AWS_S3_BUCKET_REGION", e.str("AWS_REGION", e.str("AWS_DEFAULT_REGION", ""))),
		VerifyCerts: e.boolean("AWS_S3_BUCKET_VERIFY_CERTS", true),
		DirSuffix:   e.str("AWS_S3_BUCKET_DIR_SUFFIX", "/"),
	}
	if strings.Contains(strings.TrimPrefix(s.DirSuffix, "/"), "/") {
		e.errorf("AWS_S3_BUCKET_DIR_SUFFIX", "%q may only have a / at its start", s.DirSuffix)
	}
	if ep, ok := e.lookup("AWS_ENDPOINT_URL_S3"); ok {
		s.Endpoint = ep
	} else if host, ok := e.lookup("AWS_S3_BUCKET_HOST"); ok {
		s.Endpoint = "https://" + host
	}
	if s.Endpoint != "" && !strings.HasPrefix(s.Endpoint, "http://") && !strings.HasPrefix(s.Endpoint, "https://") {
		e.errorf("AWS_ENDPOINT_URL_S3", "%q must start with http:// or https://", s.Endpoint)
	}
	amazon := s.Endpoint == "" || strings.Contains(s.Endpoint, ".amazonaws.com")
	s.PathStyle = e.boolean("AWS_S3_FORCE_PATH_STYLE", !amazon)

	id, idSet := e.lookup("AWS_ACCESS_KEY_ID")
	secret, secretSet := e.lookup("AWS_SECRET_ACCESS_KEY")
	switch mech := e.str("AWS_AUTH_MECHANISM", ""); mech {
	case "secret_access_key":
		if !idSet {
			e.errorf("AWS_ACCESS_KEY_ID", "missing: AWS_AUTH_MECHANISM is secret_access_key")
		}
		if !secretSet {
			e.errorf("AWS_SECRET_ACCESS_KEY", "missing: AWS_AUTH_MECHANISM is secret_access_key")
		}
		s.AccessKeyID, s.SecretAccessKey = id, secret
	case "ecs_role", "default", "":
		// The SDK's default chain: environment keys, the ECS task role,
		// the instance profile, ...
	default:
		e.errorf("AWS_AUTH_MECHANISM", "%q is not secret_access_key, ecs_role or default", mech)
	}
	return s
}

// loadUsersInto reads the users of the environment and FTP_USERS_FILE,
// noting in fromFile the logins that came from the file.
func loadUsersInto(e *env, fromFile map[string]bool) []auth.User {
	var users []auth.User
	for _, m := range e.indexed("FTP_USERS") {
		name := "FTP_USERS__" + m[""]
		ro := false
		if v := m["READ_ONLY"]; v != "" {
			var ok bool
			if ro, ok = parseBool(v); !ok {
				e.errorf(name+"__READ_ONLY", "%q is not true or false", v)
			}
		}
		spec := auth.Spec{Login: m["LOGIN"], Password: m["PASSWORD"], PasswordHashed: m["PASSWORD_HASHED"],
			PasswordSalt: m["PASSWORD_SALT"], Home: m["HOME"], ReadOnly: ro,
			PublicKeys: splitKeys(m["PUBLIC_KEYS"]), Protocols: strings.FieldsFunc(m["PROTOCOLS"], isListSep)}
		u, err := spec.User()
		var fe *auth.FieldError
		if errors.As(err, &fe) {
			e.errorf(name+"__"+fe.Field, "%v", fe.Err)
			continue
		}
		users = append(users, u)
	}
	if v, ok := e.lookup("FTP_USERS_JSON"); ok {
		users = append(users, usersFromJSON(e, "FTP_USERS_JSON", []byte(v))...)
	}
	if p, ok := e.lookup("FTP_USERS_FILE"); ok {
		data, err := os.ReadFile(p)
		if err != nil {
			e.errorf("FTP_USERS_FILE", "cannot read %s: %v", p, err)
		} else {
			fileUsers := usersFromJSON(e, "FTP_USERS_FILE", data)
			for _, u := range fileUsers {
				if fromFile != nil {
					fromFile[u.Login] = true
				}
			}
			users = append(users, fileUsers...)
		}
	}
	if err := auth.Validate(users); err != nil {
		e.errorf("FTP_USERS", "%v", err)
	}
	return users
}

func usersFromJSON(e *env, name string, data []byte) []auth.User {
	users, err := auth.ParseUserList(data)
	if err != nil {
		e.errorf(name, "%v", err)
	}
	return users
}

// CleanHome turns a home directory into a key prefix: "" or "a/b/".
func CleanHome(h string) (string, error) { return auth.CleanHome(h) }

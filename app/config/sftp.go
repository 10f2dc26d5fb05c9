package config

import (
	"path/filepath"
	"strings"
)

// DefaultSFTPPort is SFTP_PORT's default.
const DefaultSFTPPort = 2222

// loadSFTP reads SFTP_PORT and the host key settings. The generated host
// key is kept beside the data directory (FTP_STORAGE_DIR), not inside it,
// where the local-directory store would serve it to users.
func loadSFTP(e *env, c *Config) {
	switch v, _ := e.lookup("SFTP_PORT"); strings.ToLower(v) {
	case "off":
		c.SFTPPort = 0
	default:
		c.SFTPPort = e.port("SFTP_PORT", DefaultSFTPPort)
	}
	if p := c.SFTPPort; p != 0 {
		switch {
		case p == c.CommandPort:
			e.errorf("SFTP_PORT", "%d is FTP_COMMAND_PORT too", p)
		case p >= c.DataPortsFirst && p < c.DataPortsFirst+c.DataPortsCount:
			e.errorf("SFTP_PORT", "%d is inside the data port range %d..%d", p, c.DataPortsFirst, c.DataPortsFirst+c.DataPortsCount-1)
		case p == c.HealthcheckPort:
			e.errorf("SFTP_PORT", "%d is HEALTHCHECK_PORT too", p)
		}
	}
	c.SFTPHostKeyPEM = e.str("SFTP_HOST_KEY_PEM", "")
	c.SFTPHostKeySeed = e.str("SFTP_HOST_KEY_SEED", "")
	file, fileSet := e.lookup("SFTP_HOST_KEY_FILE")
	set := 0
	for _, ok := range []bool{c.SFTPHostKeyPEM != "", c.SFTPHostKeySeed != "", fileSet} {
		if ok {
			set++
		}
	}
	if c.SFTPHostKeySeed != "" && len(c.SFTPHostKeySeed) < 32 {
		e.errorf("SFTP_HOST_KEY_SEED", "%d characters is too short: use at least 32 random characters", len(c.SFTPHostKeySeed))
	}
	switch {
	case set > 1:
		e.errorf("SFTP_HOST_KEY_PEM", "SFTP_HOST_KEY_PEM, SFTP_HOST_KEY_SEED and SFTP_HOST_KEY_FILE: set one")
	case c.SFTPHostKeyPEM != "", c.SFTPHostKeySeed != "":
	case fileSet:
		c.SFTPHostKeyFile = file
	default:
		c.SFTPHostKeyGenerate = true
		c.SFTPHostKeyFile = DefaultHostKeyFile(c.StorageDir)
	}
}

// DefaultHostKeyFile is where the generated SFTP host key is kept for a
// data directory: DIR/../.ftps3/ssh_host_ed25519_key (./.ftps3/... for
// ./data).
func DefaultHostKeyFile(storageDir string) string {
	abs, err := filepath.Abs(storageDir)
	if err != nil {
		abs = storageDir
	}
	return filepath.Join(filepath.Dir(abs), ".ftps3", "ssh_host_ed25519_key")
}

// splitKeys splits FTP_USERS__i__PUBLIC_KEYS into its lines.
func splitKeys(v string) []string {
	var out []string
	for _, l := range strings.Split(v, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func isListSep(r rune) bool { return r == ',' || r == ' ' }

package config

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ftps3/ftps3/app/auth"
)

const testKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGQ2wIRkVT4wz8Ac1tkiHM8nJxmm3D2mzEBYoR0uYz9X partner@example"

func TestSFTPSettingsAndUserKeys(t *testing.T) {
	dir := t.TempDir()
	c, err := Load([]string{"HOME=" + dir, "FTP_STORAGE_DIR=" + dir + "/data",
		"FTP_USERS__0__LOGIN=keys", "FTP_USERS__0__PUBLIC_KEYS=" + testKey + "\n# old key\n", "FTP_USERS__0__PROTOCOLS=sftp",
		"FTP_USERS__1__LOGIN=both", "FTP_USERS__1__PASSWORD=pw",
		`FTP_USERS_JSON=[{"login":"j","password":"x","public_keys":["` + testKey + `"],"protocols":["ftp","sftp"]}]`,
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.SFTPPort != DefaultSFTPPort || !c.SFTPHostKeyGenerate || c.SFTPHostKeyFile != filepath.Join(dir, ".ftps3", "ssh_host_ed25519_key") {
		t.Errorf("SFTP defaults: port %d, generate %v, file %s", c.SFTPPort, c.SFTPHostKeyGenerate, c.SFTPHostKeyFile)
	}
	keys := c.Users[0]
	if len(keys.PublicKeys) != 1 || keys.HasPassword() || keys.Allows(auth.ProtocolFTP) || !keys.Allows(auth.ProtocolSFTP) {
		t.Errorf("key-only SFTP user: %+v", keys)
	}
	if both := c.Users[1]; !both.Allows(auth.ProtocolFTP) || !both.Allows(auth.ProtocolSFTP) || len(both.PublicKeys) != 0 {
		t.Errorf("password user: %+v", both)
	}
	if j := c.Users[2]; len(j.PublicKeys) != 1 || !j.HasPassword() || len(j.Protocols) != 2 {
		t.Errorf("JSON user: %+v", j)
	}
	if n := len(auth.ForProtocol(c.Users, auth.ProtocolFTP)); n != 2 {
		t.Errorf("FTP users: %d, want 2", n)
	}

	c, err = Load([]string{"HOME=" + dir, "SFTP_PORT=off", "SFTP_HOST_KEY_PEM=pem"})
	if err != nil || c.SFTPPort != 0 || c.SFTPHostKeyPEM != "pem" || c.SFTPHostKeyGenerate {
		t.Errorf("SFTP_PORT=off with a PEM key: %+v, %v", c, err)
	}
}

func TestSFTPErrorsNameTheVariable(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"SFTP_PORT=ssh"}, "SFTP_PORT"},
		{[]string{"SFTP_PORT=8021"}, "SFTP_PORT: 8021 is FTP_COMMAND_PORT too"},
		{[]string{"SFTP_PORT=8030"}, "SFTP_PORT: 8030 is inside the data port range"},
		{[]string{"SFTP_HOST_KEY_PEM=x", "SFTP_HOST_KEY_FILE=/k"}, "SFTP_HOST_KEY_PEM"},
		{[]string{"FTP_USERS__0__LOGIN=u", "FTP_USERS__0__PUBLIC_KEYS=ssh-ed25519 garbage"}, "FTP_USERS__0__PUBLIC_KEYS"},
		{[]string{"FTP_USERS__0__LOGIN=u", "FTP_USERS__0__PASSWORD=p", "FTP_USERS__0__PROTOCOLS=scp"}, "FTP_USERS__0__PROTOCOLS"},
		{[]string{"FTP_USERS__0__LOGIN=u"}, "FTP_USERS__0__PASSWORD"},
		{[]string{`FTP_USERS_JSON=[{"login":"u","public_keys":["command=\"x\" ` + testKey + `"]}]`}, "options"},
	} {
		_, err := Load(append([]string{"HOME=" + dir}, tc.env...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.env, err, tc.want)
		}
	}
}

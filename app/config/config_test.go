package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftps3/ftps3/app/auth"
)

// An aioftps3 deployment's environment, unchanged.
func TestAioftps3Environment(t *testing.T) {
	c, err := Load([]string{
		"FTP_COMMAND_PORT=8021", "FTP_DATA_PORTS_FIRST=4001", "FTP_DATA_PORTS_COUNT=30",
		"FTP_DATA_CIDR_TO_DOMAINS__1__CIDR=0.0.0.0/0", "FTP_DATA_CIDR_TO_DOMAINS__1__DOMAIN=ftps.example.com",
		"FTP_DATA_CIDR_TO_DOMAINS__0__CIDR=10.0.0.0/8", "FTP_DATA_CIDR_TO_DOMAINS__0__DOMAIN=10.1.2.3",
		"FTP_USERS__0__LOGIN=partner", "FTP_USERS__0__PASSWORD_HASHED=" + auth.HashPBKDF2("pw", "salt"), "FTP_USERS__0__PASSWORD_SALT=salt",
		"FTP_USERS__1__LOGIN=other", "FTP_USERS__1__PASSWORD=plain", "FTP_USERS__1__HOME=/in/other/", "FTP_USERS__1__READ_ONLY=true",
		"HEALTHCHECK_PORT=8888",
		"AWS_S3_BUCKET_NAME=my-bucket", "AWS_S3_BUCKET_REGION=eu-west-2", "AWS_S3_BUCKET_HOST=s3-eu-west-2.amazonaws.com",
		"AWS_S3_BUCKET_DIR_SUFFIX=/.s3keep", "AWS_AUTH_MECHANISM=secret_access_key",
		"AWS_ACCESS_KEY_ID=AKIA", "AWS_SECRET_ACCESS_KEY=secret",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.CommandPort != 8021 || c.DataPortsFirst != 4001 || c.DataPortsCount != 30 || c.HealthcheckPort != 8888 {
		t.Errorf("ports: %+v", c)
	}
	if len(c.DataCIDRs) != 2 || c.DataCIDRs[0].Domain != "10.1.2.3" || c.DataCIDRs[1].Net.String() != "0.0.0.0/0" {
		t.Errorf("CIDRs not in index order: %+v", c.DataCIDRs)
	}
	if c.Storage != "s3" || c.S3.Bucket != "my-bucket" || c.S3.Region != "eu-west-2" ||
		c.S3.Endpoint != "https://s3-eu-west-2.amazonaws.com" || c.S3.PathStyle || c.S3.DirSuffix != "/.s3keep" ||
		c.S3.AccessKeyID != "AKIA" || c.S3.SecretAccessKey != "secret" {
		t.Errorf("S3: %+v", c.S3)
	}
	if len(c.Users) != 2 || c.Users[1].Home != "in/other/" || !c.Users[1].ReadOnly || c.Users[0].ReadOnly {
		t.Errorf("users: %+v", c.Users)
	}
	if !c.Users[0].Password.Verify("pw") {
		t.Error("aioftps3 hashed password not accepted")
	}
}

func TestDefaultsServeALocalDirectoryWithADevUser(t *testing.T) {
	c, err := Load([]string{"HOME=" + t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if c.Storage != "file" || c.DevUser == nil || len(c.Users) != 1 || !c.TLSGenerate || c.TLSMode != TLSAuto {
		t.Errorf("defaults: %+v", c)
	}
	if c.UploadPartSize != 6<<20 || c.UploadMemoryLimit != 512<<20 || c.ShutdownGrace != 25*time.Second {
		t.Errorf("upload/shutdown defaults: %+v", c)
	}
}

func TestEndpointPrecedenceAndPathStyle(t *testing.T) {
	c, err := Load([]string{"AWS_S3_BUCKET_NAME=b", "FTP_USERS__0__LOGIN=u", "FTP_USERS__0__PASSWORD=p",
		"AWS_S3_BUCKET_HOST=ignored.example", "AWS_ENDPOINT_URL_S3=http://127.0.0.1:9000"})
	if err != nil {
		t.Fatal(err)
	}
	if c.S3.Endpoint != "http://127.0.0.1:9000" || !c.S3.PathStyle {
		t.Errorf("S3: %+v", c.S3)
	}
}

func TestErrorsNameTheVariable(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		env  []string
		want string
	}{
		{[]string{"FTP_COMMAND_PORT=abc"}, "FTP_COMMAND_PORT"},
		{[]string{"FTP_COMMAND_PORT=70000"}, "FTP_COMMAND_PORT"},
		{[]string{"FTP_DATA_PORTS_COUNT=0"}, "FTP_DATA_PORTS_COUNT"},
		{[]string{"FTP_COMMAND_PORT=8025"}, "inside the data port range"},
		{[]string{"FTP_DATA_CIDR_TO_DOMAINS__0__CIDR=nope", "FTP_DATA_CIDR_TO_DOMAINS__0__DOMAIN=x"}, "FTP_DATA_CIDR_TO_DOMAINS__0__CIDR"},
		{[]string{"FTP_DATA_CIDR_TO_DOMAINS__0__CIDR=10.0.0.0/8"}, "FTP_DATA_CIDR_TO_DOMAINS__0__DOMAIN"},
		{[]string{"FTP_DATA_CIDR_TO_DOMAINS__x__CIDR=10.0.0.0/8"}, "FTP_DATA_CIDR_TO_DOMAINS__x__CIDR"},
		{[]string{"FTP_TLS_MODE=sometimes"}, "FTP_TLS_MODE"},
		{[]string{"FTP_TLS_CERT_FILE=" + filepath.Join(dir, "missing.crt")}, "FTP_TLS_CERT_FILE"},
		{[]string{"FTP_STORAGE=s3"}, "AWS_S3_BUCKET_NAME"},
		{[]string{"FTP_TLS_CERT_PEM=-----BEGIN"}, "FTP_TLS_KEY_PEM"},
		{[]string{"AWS_S3_BUCKET_NAME=b"}, "FTP_USERS__0__LOGIN"},
		{[]string{"FTP_USERS__0__LOGIN=u"}, "FTP_USERS__0__PASSWORD"},
		{[]string{"FTP_USERS__0__LOGIN=u", "FTP_USERS__0__PASSWORD_HASHED=abc="}, "FTP_USERS__0__PASSWORD_HASHED"},
		{[]string{"FTP_USERS__0__LOGIN=u", "FTP_USERS__0__PASSWORD=p", "FTP_USERS__0__HOME=../etc"}, "FTP_USERS__0__HOME"},
		{[]string{"FTP_USERS__0__LOGIN=u", "FTP_USERS__0__PASSWORD=p", "FTP_USERS__0__READ_ONLY=maybe"}, "FTP_USERS__0__READ_ONLY"},
		{[]string{"FTP_USERS_JSON={"}, "FTP_USERS_JSON"},
		{[]string{"FTP_USERS_FILE=" + filepath.Join(dir, "nope.json")}, "FTP_USERS_FILE"},
		{[]string{"AWS_AUTH_MECHANISM=magic"}, "AWS_AUTH_MECHANISM"},
		{[]string{"AWS_AUTH_MECHANISM=secret_access_key"}, "AWS_ACCESS_KEY_ID"},
		{[]string{"AWS_ENDPOINT_URL_S3=minio:9000"}, "AWS_ENDPOINT_URL_S3"},
		{[]string{"FTP_UPLOAD_PART_SIZE=1MiB"}, "FTP_UPLOAD_PART_SIZE"},
		{[]string{"FTP_UPLOAD_PART_SIZE=lots"}, "FTP_UPLOAD_PART_SIZE"},
		{[]string{"FTP_UPLOAD_MEMORY_LIMIT=8MiB"}, "FTP_UPLOAD_MEMORY_LIMIT"},
		{[]string{"FTP_SHUTDOWN_GRACE=soon"}, "FTP_SHUTDOWN_GRACE"},
		{[]string{"FTP_UPLOAD_STALE_AGE=10m"}, "FTP_UPLOAD_STALE_AGE"},
		{[]string{"FTP_TLS_SESSION_REUSE=sometimes"}, "FTP_TLS_SESSION_REUSE"},
		{[]string{"FTP_LOGIN_TIMEOUT=10ms"}, "FTP_LOGIN_TIMEOUT"},
		{[]string{"FTP_USERS_RELOAD_INTERVAL=1ms"}, "FTP_USERS_RELOAD_INTERVAL"},
		{[]string{"FTP_DATA_IDLE_TIMEOUT=never"}, "FTP_DATA_IDLE_TIMEOUT"},
		{[]string{"FTP_MAX_CONNECTIONS=0"}, "FTP_MAX_CONNECTIONS"},
		{[]string{"FTP_MAX_CONNECTIONS_PER_ADDRESS=-1"}, "FTP_MAX_CONNECTIONS_PER_ADDRESS"},
		{[]string{"FTP_MAX_LOGINS_PENDING_PER_ADDRESS=x"}, "FTP_MAX_LOGINS_PENDING_PER_ADDRESS"},
		{[]string{"FTP_UPLOAD_STALE_AGE=never"}, "FTP_UPLOAD_STALE_AGE"},
		{[]string{"UPLOAD_RESUME_WINDOW=48h", "FTP_UPLOAD_STALE_AGE=24h"}, "FTP_UPLOAD_STALE_AGE"},
		{[]string{"UPLOAD_RESUME_WINDOW=soon"}, "UPLOAD_RESUME_WINDOW"},
		{[]string{"CHECKSUMS=crc32"}, "CHECKSUMS"},
		{[]string{"CHECKSUMS_COMPUTE_MISSING=maybe"}, "CHECKSUMS_COMPUTE_MISSING"},
		{[]string{"FTP_HTTP_ADDR=8080"}, "FTP_HTTP_ADDR"},
		{[]string{"AWS_S3_BUCKET_VERIFY_CERTS=perhaps"}, "AWS_S3_BUCKET_VERIFY_CERTS"},
	}
	for _, c := range cases {
		_, err := Load(append([]string{"HOME=" + dir}, c.env...))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want one naming %s", c.env, err, c.want)
		}
	}
}

func TestUsersFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "users.json")
	os.WriteFile(p, []byte(`[{"login":"a","password":"x","home":"a"},{"login":"b","password_hashed":"$2a$04$abcdefghijklmnopqrstuuVZ7oMBDLzkVR5d0DJ2z8MDtRe6c5Lhq","read_only":true}]`), 0o600)
	c, err := Load([]string{"FTP_USERS_FILE=" + p})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Users) != 2 || c.Users[0].Home != "a/" || !c.Users[1].ReadOnly || c.DevUser != nil {
		t.Fatalf("users: %+v", c.Users)
	}
	if _, err := Load([]string{"FTP_USERS_FILE=" + p, "FTP_USERS__0__LOGIN=a", "FTP_USERS__0__PASSWORD=y"}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate user across sources: %v", err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"8388608": 8 << 20, "8MiB": 8 << 20, "8m": 8 << 20, "1GiB": 1 << 30, "512KiB": 512 << 10} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v", in, got, err)
		}
	}
}

// Users from a Secrets Manager secret are read by the gateway at start and
// on every reload; the secret's id alone is a valid user configuration.
func TestUsersSecretIDIsAUserSource(t *testing.T) {
	c, err := Load([]string{"AWS_S3_BUCKET_NAME=b", "FTP_USERS_SECRET_ID=arn:aws:secretsmanager:eu-west-2:123456789012:secret:ftps3/users-AbCdEf"})
	if err != nil {
		t.Fatal(err)
	}
	if c.UsersSecretID == "" || c.UsersReloadInterval != time.Minute || len(c.Users) != 0 {
		t.Errorf("config: %+v", c)
	}
}

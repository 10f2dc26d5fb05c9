package hostaddr

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParseECSMetadata(t *testing.T) {
	cases := []struct {
		file, ip string
		ready    bool
		wantErr  bool
	}{
		{"ecs-metadata-ready.json", "10.0.1.23", true, false},
		{"ecs-metadata-starting.json", "", false, false},
	}
	for _, c := range cases {
		data, err := os.ReadFile(filepath.Join("testdata", c.file))
		if err != nil {
			t.Fatal(err)
		}
		ip, ready, err := ParseECSMetadata(data)
		if ip != c.ip || ready != c.ready || (err != nil) != c.wantErr {
			t.Errorf("%s: got %q ready=%v err=%v, want %q ready=%v", c.file, ip, ready, err, c.ip, c.ready)
		}
	}
	for _, bad := range []string{`{"MetadataFileStatus":"READY","HostPrivateIPv4Address":""}`,
		`{"MetadataFileStatus":"READY","HostPrivateIPv4Address":"fd00::1"}`, `not json`} {
		if _, _, err := ParseECSMetadata([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

// The agent writes the file in steps: a reader started early waits for READY.
func TestPrivateIPv4WaitsForTheFileToBeReady(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "metadata.json")
	starting, _ := os.ReadFile("testdata/ecs-metadata-starting.json")
	ready, _ := os.ReadFile("testdata/ecs-metadata-ready.json")
	if err := os.WriteFile(path, starting, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(MetadataFileEnv, path)
	written := make(chan struct{})
	go func() {
		defer close(written)
		time.Sleep(300 * time.Millisecond) // the agent finishes writing later
		os.WriteFile(path+".tmp", ready, 0o644)
		os.Rename(path+".tmp", path)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ip, err := PrivateIPv4(ctx)
	<-written
	if err != nil || ip != "10.0.1.23" {
		t.Fatalf("PrivateIPv4 = %q, %v", ip, err)
	}

	// Never READY: the error says so once the caller's time is up.
	os.WriteFile(path, starting, 0o644)
	ctx, cancel = context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := PrivateIPv4(ctx); err == nil {
		t.Fatal("a file that never became READY gave an address")
	}
}

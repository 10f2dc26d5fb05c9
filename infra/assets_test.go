package main

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// dockerImageSource is a docker image asset's source in *.assets.json, the
// fields the CDK CLI (cdk-assets) passes to `docker build`.
type dockerImageSource struct {
	Directory         string            `json:"directory"`
	DockerFile        string            `json:"dockerFile"`
	DockerBuildArgs   map[string]string `json:"dockerBuildArgs"`
	DockerBuildTarget string            `json:"dockerBuildTarget"`
	NetworkMode       string            `json:"networkMode"`
	Platform          string            `json:"platform"`
	Executable        []string          `json:"executable"`
}

// cdkDockerBuildArgs is the command line cdk-assets runs for a directory
// asset, in its order (its cwd is the staged directory): build args, tag,
// target, file, network, platform, then ".".
func cdkDockerBuildArgs(src dockerImageSource, tag string) []string {
	args := []string{"build"}
	keys := make([]string, 0, len(src.DockerBuildArgs))
	for k := range src.DockerBuildArgs {
		keys = append(keys, k)
	}
	sort.Strings(keys) // cdk-assets keeps the manifest's order; any order builds the same
	for _, k := range keys {
		args = append(args, "--build-arg", k+"="+src.DockerBuildArgs[k])
	}
	args = append(args, "--tag", tag)
	if src.DockerBuildTarget != "" {
		args = append(args, "--target", src.DockerBuildTarget)
	}
	if src.DockerFile != "" {
		args = append(args, "--file", src.DockerFile)
	}
	if src.NetworkMode != "" {
		args = append(args, "--network", src.NetworkMode)
	}
	if src.Platform != "" {
		args = append(args, "--platform", src.Platform)
	}
	return append(args, ".")
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(dockerCmd(), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// dockerCmd is what cdk-assets runs: $CDK_DOCKER, else docker.
func dockerCmd() string {
	if c := os.Getenv("CDK_DOCKER"); c != "" {
		return c
	}
	return "docker"
}

// canRun tells whether this Docker engine runs images of platform: its own
// architecture, or another one through a registered binfmt_misc emulator.
func canRun(t *testing.T, platform string) bool {
	arch := strings.TrimPrefix(platform, "linux/")
	engine := docker(t, "info", "--format", "{{.Architecture}}")
	native := map[string]string{"x86_64": "amd64", "aarch64": "arm64"}[engine]
	if native == arch {
		return true
	}
	qemu := map[string]string{"amd64": "qemu-x86_64", "arm64": "qemu-aarch64"}[arch]
	b, err := os.ReadFile("/proc/sys/fs/binfmt_misc/" + qemu)
	return err == nil && bytes.HasPrefix(b, []byte("enabled"))
}

// Every docker image asset of the synthesized app builds from its staged
// directory in the cloud assembly with exactly the command the CDK CLI runs
// at deploy time (a .dockerignore that drops the Dockerfile from the staged
// copy fails here, while a build from the repository would pass), for both
// host architectures; the image has the asset's platform and its gateway
// binary that machine type; where this engine can run the platform, the
// image starts and passes its own health check.
func TestImageAssetsBuildAsTheCDKCLIBuildsThem(t *testing.T) {
	if testing.Short() {
		t.Skip("synthesizes and builds images")
	}
	if err := exec.Command(dockerCmd(), "info").Run(); err != nil {
		if os.Getenv("FTPS3_REQUIRE_SERVICES") != "" {
			t.Fatalf("no Docker engine: %v", err)
		}
		t.Skip("no Docker engine here: the asset test needs one")
	}
	for _, variant := range []string{"arm64", "x86_64"} {
		t.Run(variant, func(t *testing.T) {
			dir := synth(t, variant)
			manifests, _ := filepath.Glob(filepath.Join(dir, "*.assets.json"))
			if len(manifests) == 0 {
				t.Fatal("no *.assets.json in the assembly")
			}
			images := 0
			for _, m := range manifests {
				var manifest struct {
					DockerImages map[string]struct {
						Source dockerImageSource `json:"source"`
					} `json:"dockerImages"`
				}
				b, err := os.ReadFile(m)
				if err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(b, &manifest); err != nil {
					t.Fatalf("%s: %v", m, err)
				}
				for id, asset := range manifest.DockerImages {
					images++
					buildAndSmokeTest(t, dir, id, asset.Source)
				}
			}
			if images != 1 {
				t.Errorf("%d docker image assets, want 1 (the gateway)", images)
			}
		})
	}
}

func buildAndSmokeTest(t *testing.T, assembly, id string, src dockerImageSource) {
	if len(src.Executable) > 0 {
		t.Fatalf("asset %s is built by an executable; this test replays directory assets", id)
	}
	want := map[string]elf.Machine{"linux/amd64": elf.EM_X86_64, "linux/arm64": elf.EM_AARCH64}[src.Platform]
	if want == 0 {
		t.Fatalf("asset %s: platform %q, want linux/amd64 or linux/arm64", id, src.Platform)
	}
	var r [4]byte
	rand.Read(r[:])
	tag := "cdkasset-" + id[:12] + "-test-" + hex.EncodeToString(r[:])
	build := exec.Command(dockerCmd(), cdkDockerBuildArgs(src, tag)...)
	build.Dir = filepath.Join(assembly, src.Directory)
	build.Env = append(os.Environ(), "BUILDX_NO_DEFAULT_ATTESTATIONS=1") // as cdk-assets sets it
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker %s (in %s): %v\n%s", strings.Join(build.Args[1:], " "), build.Dir, err, out)
	}
	t.Cleanup(func() { exec.Command(dockerCmd(), "rmi", "-f", tag).Run() })

	if got := docker(t, "image", "inspect", "-f", "{{.Os}}/{{.Architecture}}", tag); got != src.Platform {
		t.Errorf("image platform %s, want %s", got, src.Platform)
	}
	if user := docker(t, "image", "inspect", "-f", "{{.Config.User}}", tag); user == "" || user == "0" || strings.HasPrefix(user, "root") {
		t.Errorf("image runs as %q, want a non-root user", user)
	}

	// The binary in the image is for the platform (read without running it).
	ctr := docker(t, "create", "--platform", src.Platform, tag)
	defer exec.Command(dockerCmd(), "rm", "-f", ctr).Run()
	tarball, err := exec.Command(dockerCmd(), "cp", ctr+":/ftps3", "-").Output()
	if err != nil {
		t.Fatalf("docker cp /ftps3: %v", err)
	}
	tr := tar.NewReader(bytes.NewReader(tarball))
	if _, err := tr.Next(); err != nil {
		t.Fatal(err)
	}
	bin, _ := io.ReadAll(tr)
	if f, err := elf.NewFile(bytes.NewReader(bin)); err != nil || f.Machine != want {
		t.Errorf("/ftps3 in the %s image: %v, machine %v", src.Platform, err, f)
	}

	if !canRun(t, src.Platform) {
		t.Logf("built %s; not run: this engine cannot run %s (no binfmt_misc emulator)", tag, src.Platform)
		return
	}
	run := docker(t, "run", "-d", "--platform", src.Platform,
		"--tmpfs", "/data:uid=65532,gid=65532", "-e", "FTP_STORAGE=file", "-e", "FTP_STORAGE_DIR=/data",
		"-e", "FTP_USERS__0__LOGIN=smoke", "-e", "FTP_USERS__0__PASSWORD=smoke test password", tag)
	defer func() {
		if t.Failed() {
			out, _ := exec.Command(dockerCmd(), "logs", run).CombinedOutput()
			t.Logf("container log:\n%s", out)
		}
		exec.Command(dockerCmd(), "rm", "-f", run).Run()
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		// The image's own health check command, as ECS runs it.
		err := exec.Command(dockerCmd(), "exec", run, "/ftps3", "-healthcheck").Run()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the %s image's health check did not pass within 30s: %v", src.Platform, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

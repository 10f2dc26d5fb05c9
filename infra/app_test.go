package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The deployments the tests synthesize with `go run ./infra`, as `cdk synth`
// runs it: cdk.json's context for each architecture, and the campus
// deployment of infra/testdata (an existing VPC whose lookup is answered in
// the context, as the CLI's cdk.context.json would hold it).
var variants = map[string]func() (map[string]any, []string){
	"arm64":  func() (map[string]any, []string) { return cdkJSONContext("arm64"), nil },
	"x86_64": func() (map[string]any, []string) { return cdkJSONContext("x86_64"), nil },
	"campus": func() (map[string]any, []string) {
		b, err := os.ReadFile("testdata/campus.context.json")
		if err != nil {
			panic(err)
		}
		var ctx map[string]any
		if err := json.Unmarshal(b, &ctx); err != nil {
			panic(err)
		}
		return ctx, []string{"CDK_DEFAULT_ACCOUNT=111122223333", "CDK_DEFAULT_REGION=eu-west-2"}
	},
}

func cdkJSONContext(arch string) map[string]any {
	b, err := os.ReadFile("../cdk.json")
	if err != nil {
		panic(err)
	}
	var cfg struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		panic(err)
	}
	cfg.Context["architecture"] = arch
	return cfg.Context
}

var (
	assetsOnce sync.Once
	assetsErr  error
	synthMu    sync.Mutex
	synthed    = map[string]string{}
)

// runInfra runs `go run ./infra` from the repository root into out.
func runInfra(out string, extraEnv ...string) (string, error) {
	cmd := exec.Command("go", "run", "./infra")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), append([]string{"CDK_OUTDIR=" + out, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20"}, extraEnv...)...)
	b, err := cmd.CombinedOutput()
	return string(b), err
}

// synth returns the cloud assembly of a variant, synthesized once. The
// assets it stages (dist/) are built first if they are missing, as
// cdk.json's "build" step does.
func synth(t *testing.T, variant string) string {
	t.Helper()
	assetsOnce.Do(func() {
		for _, f := range []string{"../dist/linux-amd64/ftps3", "../dist/linux-arm64/ftps3", "../dist/dnssync/bootstrap"} {
			if _, err := os.Stat(f); err != nil {
				b, err := exec.Command("../scripts/build-assets.sh").CombinedOutput()
				if err != nil {
					assetsErr = err
					t.Logf("%s", b)
				}
				return
			}
		}
	})
	if assetsErr != nil {
		t.Fatalf("scripts/build-assets.sh: %v", assetsErr)
	}
	synthMu.Lock()
	defer synthMu.Unlock()
	if dir, ok := synthed[variant]; ok {
		return dir
	}
	ctx, env := variants[variant]()
	b, _ := json.Marshal(ctx)
	dir, err := os.MkdirTemp("", "ftps3-synth-"+variant+"-")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := runInfra(dir, append(env, "CDK_CONTEXT_JSON="+string(b))...); err != nil {
		t.Fatalf("synth %s: %v\n%s", variant, err, out)
	}
	synthed[variant] = dir
	return dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, dir := range synthed {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// `go run ./infra` from the repository root synthesizes the whole app with
// cdk.json's context, as `cdk synth` does; bad context fails it with the key.
func TestSynthOfTheApp(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a full synth")
	}
	out := t.TempDir()
	synth(t, "arm64") // builds the assets if needed
	if b, err := runInfra(out); err != nil {
		t.Fatalf("synth: %v\n%s", err, b)
	}
	if _, err := os.Stat(filepath.Join(out, "Ftps3.template.json")); err != nil {
		t.Fatalf("no template: %v", err)
	}
	for ctx, key := range map[string]string{
		`{"publicCidrs":["0.0.0.0/0"],"dataPortsCount":70}`: `"dataPortsCount"`,
		// Campus networks need the deployer's VPC.
		`{"campusCidrs":["10.0.0.0/8"],"hostedZoneId":"Z1","hostedZoneName":"example.org","campusRecordName":"ftps.example.org"}`: `"campusCidrs": needs vpcId`,
	} {
		b, err := runInfra(t.TempDir(), "CDK_CONTEXT_JSON="+ctx)
		if err == nil || !strings.Contains(b, key) {
			t.Errorf("bad context %s: err %v\n%s", ctx, err, b)
		}
	}
}

// The campus deployment synthesizes with the VPC lookup answered, and fails
// with a clear message when a campus network overlaps the VPC.
func TestSynthWithCampusNetworks(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a full synth")
	}
	dir := synth(t, "campus")
	tmpl, err := os.ReadFile(filepath.Join(dir, "Ftps3.template.json"))
	if err != nil || !strings.Contains(string(tmpl), "ftps.campus.example.org") {
		t.Fatalf("campus template: %v", err)
	}
	ctx, env := variants["campus"]()
	ctx["campusCidrs"] = []any{"10.20.128.0/17"}
	b, _ := json.Marshal(ctx)
	out, err := runInfra(t.TempDir(), append(env, "CDK_CONTEXT_JSON="+string(b))...)
	if err == nil || !strings.Contains(out, "campusCidrs: 10.20.128.0/17 overlaps the VPC's CIDR 10.20.0.0/16") {
		t.Fatalf("overlap: err %v\n%s", err, out)
	}
}

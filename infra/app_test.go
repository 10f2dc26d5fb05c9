package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// `go run ./infra` from the repository root synthesizes the whole app with
// cdk.json's context, as `cdk synth` does; bad context fails it with the key.
func TestSynthOfTheApp(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a full synth")
	}
	out := t.TempDir()
	if _, err := os.Stat("../dist/dnssync/bootstrap"); err != nil {
		if b, err := exec.Command("../scripts/build-lambda.sh", "../dist").CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
	}
	synth := func(extraEnv ...string) (string, error) {
		cmd := exec.Command("go", "run", "./infra")
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), append([]string{"CDK_OUTDIR=" + out, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20"}, extraEnv...)...)
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	if b, err := synth(); err != nil {
		t.Fatalf("synth: %v\n%s", err, b)
	}
	if _, err := os.Stat(filepath.Join(out, "Ftps3.template.json")); err != nil {
		t.Fatalf("no template: %v", err)
	}
	b, err := synth(`CDK_CONTEXT_JSON={"publicCidrs":["0.0.0.0/0"],"dataPortsCount":70}`)
	if err == nil || !strings.Contains(b, `"dataPortsCount"`) {
		t.Fatalf("bad context: err %v\n%s", err, b)
	}
}

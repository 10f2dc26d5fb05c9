package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// cfnLint is the cfn-lint that scripts/deps.sh installs ($FTPS3_CFN_LINT),
// else the one on PATH.
func cfnLint(t *testing.T) string {
	if p := os.Getenv("FTPS3_CFN_LINT"); p != "" {
		return p
	}
	if p, err := exec.LookPath("cfn-lint"); err == nil {
		return p
	}
	if os.Getenv("FTPS3_REQUIRE_SERVICES") != "" {
		t.Fatal("cfn-lint not found: scripts/deps.sh installs it")
	}
	t.Skip("cfn-lint not found (scripts/deps.sh installs it)")
	return ""
}

// Every synthesized template passes cfn-lint (CloudFormation's resource
// schemas and best-practice rules): no error, no warning. W3005 (a DependsOn
// that a Ref already implies) is left out: CDK writes one on every Lambda
// function's role, harmless.
func TestTemplatesPassCfnLint(t *testing.T) {
	if testing.Short() {
		t.Skip("synthesizes the app")
	}
	lint := cfnLint(t)
	for _, variant := range []string{"arm64", "x86_64", "campus"} {
		t.Run(variant, func(t *testing.T) {
			templates, _ := filepath.Glob(filepath.Join(synth(t, variant), "*.template.json"))
			if len(templates) == 0 {
				t.Fatal("no template")
			}
			out, err := exec.Command(lint, append([]string{"--ignore-checks", "W3005", "--"}, templates...)...).CombinedOutput()
			var exit *exec.ExitError
			switch {
			case err == nil:
			case errors.As(err, &exit) && exit.ExitCode() == 8: // informational findings only
				t.Logf("cfn-lint (informational):\n%s", out)
			default:
				t.Errorf("cfn-lint: %v\n%s", err, out)
			}
		})
	}
}

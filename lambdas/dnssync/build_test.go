package main

import (
	"archive/zip"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The script builds what Lambda's provided.al2023 runtime on arm64 runs: a
// zip holding an executable, statically linked arm64 ELF named bootstrap.
func TestBuildScriptMakesAnArm64Bootstrap(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles the Lambda")
	}
	out := t.TempDir()
	cmd := exec.Command("../../scripts/build-lambda.sh", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build-lambda.sh: %v\n%s", err, b)
	}
	z, err := zip.OpenReader(filepath.Join(out, "dnssync.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	if len(z.File) != 1 || z.File[0].Name != "bootstrap" || z.File[0].Mode()&0o111 == 0 {
		t.Fatalf("zip content: %v", z.File)
	}
	rc, _ := z.File[0].Open()
	tmp := filepath.Join(out, "extracted")
	f, _ := os.Create(tmp)
	io.Copy(f, rc)
	f.Close()
	rc.Close()
	e, err := elf.Open(tmp)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Machine != elf.EM_AARCH64 {
		t.Errorf("machine %v, want arm64", e.Machine)
	}
	for _, p := range e.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("dynamically linked: provided.al2023 needs a static binary")
		}
	}
}

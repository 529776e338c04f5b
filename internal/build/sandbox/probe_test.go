package sandbox

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	probeBinOnce sync.Once
	probeBin     string
	probeBinErr  error
)

// buildProbe compiles testdata/probe (statically, so it runs in any root
// filesystem) once per test binary and returns its path.
func buildProbe(t *testing.T) string {
	t.Helper()
	probeBinOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		dir, err := os.MkdirTemp("", "skiff-probe-")
		if err != nil {
			probeBinErr = err
			return
		}
		probeBin = filepath.Join(dir, "probe")
		cmd := exec.Command("go", "build", "-o", probeBin, ".")
		cmd.Dir = filepath.Join(filepath.Dir(file), "testdata", "probe")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			probeBinErr = &exec.ExitError{}
			t.Logf("%s", out)
		}
	})
	if probeBinErr != nil {
		t.Fatalf("building the probe: %v", probeBinErr)
	}
	return probeBin
}

// withProbe copies the probe into root as /probe.
func withProbe(t *testing.T, root string) {
	t.Helper()
	b, err := os.ReadFile(buildProbe(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "probe"), b, 0o755); err != nil {
		t.Fatal(err)
	}
}

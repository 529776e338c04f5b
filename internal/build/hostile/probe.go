package hostile

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// binDirs are the directories Probe and Skiff built into; Cleanup removes
// them.
var (
	binMu   sync.Mutex
	binDirs []string
)

func binDir(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	binMu.Lock()
	binDirs = append(binDirs, dir)
	binMu.Unlock()
	return dir, nil
}

// Cleanup removes the binaries Probe and Skiff built; a test binary that
// uses them calls it from TestMain after m.Run.
func Cleanup() {
	binMu.Lock()
	defer binMu.Unlock()
	for _, d := range binDirs {
		os.RemoveAll(d)
	}
	binDirs = nil
}

var probeBinary = sync.OnceValues(func() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	dir, err := binDir("skiff-probe-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "probe")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join(filepath.Dir(file), "testdata", "probe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // static: it runs in any root filesystem
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the probe: %v\n%s", err, out)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // other users' builds copy it too
		return "", err
	}
	return bin, nil
})

// Probe returns the path of the probe (testdata/probe, built once per test
// binary): a static program that RUN steps of the corpus execute to try
// what a shell cannot (read keyrings, connect to an address, report its
// effective uid).
func Probe(t testing.TB) string {
	t.Helper()
	p, err := probeBinary()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var skiffBinary = sync.OnceValues(func() (string, error) {
	dir, err := binDir("skiff-hostile-bin-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "skiff")
	cmd := exec.Command("go", "build", "-o", out, "github.com/skiff-dev/skiff")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // static, as skiff ships
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, b)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // ordinary users run it too
		return "", err
	}
	return out, nil
})

// Skiff returns the path of the skiff binary of this checkout, built once
// per test binary into a directory every user can read.
func Skiff(t testing.TB) string {
	t.Helper()
	p, err := skiffBinary()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

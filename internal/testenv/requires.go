package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// RequireRoot is for tests that mount, change owners or make device nodes.
// make test runs as root on the sandbox machine, so without root the test
// fails, except under go test -short, where it is skipped.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if testing.Short() {
		t.Skipf("-short and not root: %s", why)
	}
	t.Fatalf("needs root: %s; run the tests as root (make test does), or with -short to skip them", why)
}

// RequireCommand returns the path of a program the sandbox machine has
// (hack/testenv installs it, or the machine kind provides it). A missing one
// fails the test, except under go test -short, where it is skipped.
func RequireCommand(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if testing.Short() {
		t.Skipf("-short and %s is not installed", name)
	}
	t.Fatalf("%s is not installed; run make testenv (hack/testenv up installs what the tests need)", name)
	return ""
}

package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestExitCodesByType: the exit code comes from the error's type, never its
// text: an EINVAL from the builder ("invalid argument", which is also what
// pflag says of a bad flag value) exits 1, a wrong flag or argument count 2.
func TestExitCodesByType(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "skaffold.yaml"), "apiVersion: skaffold/v4beta11\nkind: Config\nbuild:\n  artifacts:\n  - image: app\n")
	mustWrite(t, filepath.Join(dir, "Dockerfile"), "FROM scratch\n")
	tests := []struct {
		name string
		args []string
		code int
		err  string
	}{
		// The builder's cache directory has a NUL byte: creating it fails
		// with EINVAL, whose text is "invalid argument".
		{"EINVAL from the builder", []string{"build", "-t", "v1", "--push=false", "--cache-dir", "cache\x00dir"}, ExitError, "invalid argument"},
		{"bad flag value", []string{"build", "--build-concurrency", "many"}, ExitUsage, "invalid argument"},
		{"unknown flag", []string{"build", "--nope"}, ExitUsage, "unknown flag: --nope"},
		{"flag without its value", []string{"build", "--tag"}, ExitUsage, "flag needs an argument"},
		{"too many arguments", []string{"env", "deploy", "a", "b"}, ExitUsage, "accepts 1 arg(s), received 2"},
		{"too few arguments", []string{"image", "import", "rootfs"}, ExitUsage, "accepts 2 arg(s), received 1"},
		{"no arguments where some are needed", []string{"apply"}, ExitUsage, "requires at least 1 arg(s)"},
		{"argument to a verb that takes none", []string{"build", "extra"}, ExitUsage, `unknown command "extra" for "skiff build"`},
		{"unknown verb", []string{"frobnicate"}, ExitUsage, `unknown command "frobnicate" for "skiff"`},
		{"unknown subcommand", []string{"env", "frobnicate"}, ExitUsage, `unknown command "frobnicate" for "skiff env"`},
		{"bad value checked by the verb", []string{"build", "--compression", "lz4"}, ExitUsage, "--compression"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := run(t, dir, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.err) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tt.code, tt.err)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		code int
	}{
		{nil, ExitOK},
		{fmt.Errorf("mounting overlay: %w", syscall.EINVAL), ExitError},
		{errors.New("unknown flag: --x"), ExitError}, // text alone decides nothing
		{&UsageError{Err: errors.New("x")}, ExitUsage},
		{fmt.Errorf("deploy: %w", &UsageError{Err: errors.New("x")}), ExitUsage},
		{fmt.Errorf("pipeline stopped: %w", ErrNotImplemented), ExitNotImplemented},
	}
	for _, tt := range tests {
		if got := exitCode(tt.err); got != tt.code {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.code)
		}
	}
}

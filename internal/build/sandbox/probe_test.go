package sandbox

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/skiff-dev/skiff/internal/build/hostile"
)

// withProbe copies the hostile-input probe into root as /probe.
func withProbe(t *testing.T, root string) {
	t.Helper()
	b, err := os.ReadFile(hostile.Probe(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "probe"), b, 0o755); err != nil {
		t.Fatal(err)
	}
}

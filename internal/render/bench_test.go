package render

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/skiff-dev/skiff/internal/artifact"
)

// BenchmarkRenderKustomize50 renders the 50-object overlay of
// hack/bench/render/gen.sh in-process (no process start, no config load).
func BenchmarkRenderKustomize50(b *testing.B) {
	dir := b.TempDir()
	if out, err := exec.Command("../../hack/bench/render/gen.sh", dir).CombinedOutput(); err != nil {
		b.Fatalf("gen.sh: %v: %s", err, out)
	}
	f, err := artifact.ReadFile(filepath.Join(dir, "artifacts.json"), os.Stdin)
	if err != nil {
		b.Fatal(err)
	}
	opts := Options{Kustomize: []KustomizeSource{{Path: filepath.Join(dir, "overlays/production")}}, Builds: f.Builds}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := Render(context.Background(), opts)
		if err != nil || len(res.Objects) != 50 {
			b.Fatalf("%v, %d objects", err, len(res.Objects))
		}
	}
}

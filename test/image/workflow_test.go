package image_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
)

// skiff's own workflows pass actionlint (schema, expressions, contexts,
// untrusted input in scripts), as the generated ones do; the release
// workflow builds the image with make image and pushes binary and image.
func TestReleaseWorkflow(t *testing.T) {
	files, err := filepath.Glob("../../.github/workflows/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflows in .github/workflows: %v", err)
	}
	linter, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		errs, err := linter.Lint(f, data, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range errs {
			t.Errorf("actionlint: %s", e.Error())
		}
	}
	release, err := os.ReadFile("../../.github/workflows/release.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`tags: ["v*"]`, "make image", "gh release create", "packages: write"} {
		if !strings.Contains(string(release), want) {
			t.Errorf("release.yml does not contain %q", want)
		}
	}
}

package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The labels of the image SkiffImage builds.
const (
	SkiffImageVersion = "v0.0.1-test"
	SkiffImageCommit  = "0123456789abcdef0123456789abcdef01234567"
)

var skiffImage struct {
	once sync.Once
	ref  string
	err  error
}

// SkiffImage builds skiff's own image from this checkout with
// hack/image/build (what make image runs) once per test binary, pushes it
// to a repository of its own in the sandbox registry, and returns its
// reference (repo:tag@digest).
func (e *Env) SkiffImage(t testing.TB) string {
	t.Helper()
	skiffImage.once.Do(func() { skiffImage.ref, skiffImage.err = e.buildSkiffImage() })
	if skiffImage.err != nil {
		t.Fatal(skiffImage.err)
	}
	return skiffImage.ref
}

func (e *Env) buildSkiffImage() (string, error) {
	repo := e.Registry() + "/test/skiff-image-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "/skiff"
	dir, err := os.MkdirTemp("", "skiff-image-test-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(e.Root(), "hack/image/build"), repo)
	cmd.Env = append(os.Environ(), "VERSION="+SkiffImageVersion, "COMMIT="+SkiffImageCommit, "IMAGE_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("hack/image/build: %w\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "build.json"))
	if err != nil {
		return "", err
	}
	var f struct {
		Builds []struct{ Tag string }
	}
	if err := json.Unmarshal(b, &f); err != nil || len(f.Builds) != 1 {
		return "", fmt.Errorf("hack/image/build's artifacts file %s: %v", b, err)
	}
	ref := f.Builds[0].Tag
	if !strings.HasPrefix(ref, repo+":"+SkiffImageVersion+"@sha256:") {
		return "", fmt.Errorf("hack/image/build pushed %s, want %s:%s@sha256:…", ref, repo, SkiffImageVersion)
	}
	return ref, nil
}

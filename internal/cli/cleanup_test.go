package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/testenv"
)

// treeSize is the bytes of the regular files under dir and their number.
func treeSize(t *testing.T, dir string) (size int64, files int) {
	t.Helper()
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			size += fi.Size()
			files++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return size, files
}

// TestCleanupLocal builds into a cache directory, then: --dry-run lists
// what would go and changes nothing; --keep-storage 1B removes the layers,
// blobs and entries; the next build works again (registry hits, local
// misses).
func TestCleanupLocal(t *testing.T) {
	env := testenv.Require(t)
	dir := buildProject(t, env.BaseImage())
	repo := strings.TrimSuffix(env.Repo(t, "x"), "/x")
	cache := t.TempDir()
	buildArgs := []string{"build", "--default-repo", repo, "--cache-dir", cache, "-t", "v1", "--secret", "id=tok,src=token"}
	if _, stderr, code := run(t, dir, buildArgs...); code != 0 {
		t.Fatalf("build: exit %d: %s", code, stderr)
	}
	before, files := treeSize(t, cache)
	if files == 0 {
		t.Fatalf("the build left nothing in %s", cache)
	}

	stdout, stderr, code := run(t, dir, "cleanup", "--local", "--cache-dir", cache, "--keep-storage", "1B", "--dry-run")
	if code != 0 {
		t.Fatalf("dry run: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "would remove layer ") || !strings.Contains(stderr, "would remove ") {
		t.Errorf("dry run does not list what would go:\n%s\n%s", stdout, stderr)
	}
	if after, n := treeSize(t, cache); after != before || n != files {
		t.Errorf("--dry-run changed the cache: %d bytes in %d files, was %d in %d", after, n, before, files)
	}

	stdout, stderr, code = run(t, dir, "cleanup", "--local", "--cache-dir", cache, "--keep-storage", "1B")
	if code != 0 {
		t.Fatalf("cleanup: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "removed layer ") || !strings.Contains(stdout, "removed blob ") {
		t.Errorf("cleanup output:\n%s", stdout)
	}
	if after, _ := treeSize(t, cache); after*10 > before {
		t.Errorf("after --keep-storage 1B the cache holds %d bytes of %d", after, before)
	}
	if _, stderr, code := run(t, dir, buildArgs...); code != 0 {
		t.Fatalf("build after the cleanup: exit %d: %s", code, stderr)
	}

	for _, tt := range []struct{ args []string }{
		{[]string{"cleanup"}},
		{[]string{"cleanup", "--local", "--keep-storage", "lots"}},
	} {
		if _, stderr, code := run(t, dir, tt.args...); code != ExitUsage || !strings.Contains(stderr, "skiff: ") {
			t.Errorf("%v: exit %d, %q; want a usage error", tt.args, code, stderr)
		}
	}
}

package cli

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestCleanupRegistry builds an app at three commits — one deployed to
// staging, one on a branch that was deleted, the newest on the default
// branch — then: --dry-run lists what would go and why the rest stays, and
// deletes nothing; the real run deletes exactly the deleted branch's image
// and the cache entries only its build used, and keeps what staging runs
// and what the default branch's newest commit built.
func TestCleanupRegistry(t *testing.T) {
	e, client := onSandbox(t)
	repoBase := strings.TrimSuffix(e.Repo(t, "x"), "/x")
	dir, app := envProject(t, "")
	cleanupNamespaces(t, client, app)
	e.WaitingStage(t, app+"-staging")
	mustWrite(t, filepath.Join(dir, "skiff.yaml"), strings.Replace(readFile(t, filepath.Join(dir, "skiff.yaml")),
		"manifests:", "build:\n  artifacts:\n  - image: app\nmanifests:", 1))
	mustWrite(t, filepath.Join(dir, "Dockerfile"), "FROM "+e.BaseImage()+"\nCOPY v.txt /\n")
	mustWrite(t, filepath.Join(dir, "k8s", "app.yaml"), `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: app}
`)
	r, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := r.Worktree()
	n := 0
	commit := func(v string) string {
		t.Helper()
		n++
		mustWrite(t, filepath.Join(dir, "v.txt"), v+"\n")
		if err := wt.AddGlob("."); err != nil {
			t.Fatal(err)
		}
		h, err := wt.Commit("version "+v, &git.CommitOptions{Author: &object.Signature{Name: "t", Email: "t@example.com", When: time.Unix(1700000000+int64(n)*60, 0)}})
		if err != nil {
			t.Fatal(err)
		}
		return h.String()[:7]
	}
	checkout := func(branch string, create bool) {
		t.Helper()
		if err := wt.Checkout(&git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName(branch), Create: create}); err != nil {
			t.Fatal(err)
		}
	}
	out := t.TempDir()
	cache := t.TempDir()
	buildAt := func(name string) string {
		t.Helper()
		file := filepath.Join(out, name+".json")
		mustRun(t, dir, "build", "-q", "--default-repo", repoBase, "--cache-dir", cache, "--file-output", file)
		return file
	}

	deployed := commit("1")
	mustRun(t, dir, "env", "deploy", "staging", "-a", buildAt("deployed"), "--status-check-deadline", "2m")
	checkout("feature/gone", true)
	gone := commit("2")
	buildAt("gone")
	checkout("master", false)
	if err := r.Storer.RemoveReference(plumbing.NewBranchReferenceName("feature/gone")); err != nil {
		t.Fatal(err)
	}
	newest := commit("3")
	buildAt("newest")

	image := repoBase + "/app"
	tags := func(repo string) []string {
		t.Helper()
		ref, err := name.NewRepository(repo, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		got, err := remote.List(ref)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		return got
	}
	before, cacheBefore := tags(image), tags(image+"/cache")
	for _, want := range []string{deployed, gone, newest} {
		if !slices.Contains(before, want) {
			t.Fatalf("the builds did not push %s: %v", want, before)
		}
	}

	args := []string{"cleanup", "--registry", "--default-repo", repoBase, "--keep-per-branch", "1", "--cache-grace", "0s"}
	stdout := mustRun(t, dir, append(args, "--dry-run")...)
	for _, want := range []string{
		fmt.Sprintf("would delete image %s:%s", image, gone),
		fmt.Sprintf("kept image %s:%s", image, deployed),
		"environment staging runs it",
		fmt.Sprintf("kept image %s:%s", image, newest),
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the dry run does not say %q:\n%s", want, stdout)
		}
	}
	if got := tags(image); !slices.Equal(got, before) {
		t.Errorf("--dry-run deleted tags: %v, was %v", got, before)
	}
	if got := tags(image + "/cache"); !slices.Equal(got, cacheBefore) {
		t.Errorf("--dry-run deleted cache entries: %d left of %d", len(got), len(cacheBefore))
	}

	// An environment's cluster that cannot be read: nothing is deleted.
	bad := filepath.Join(t.TempDir(), "kubeconfig")
	mustWrite(t, bad, `apiVersion: v1
kind: Config
clusters: [{name: gone, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: gone, context: {cluster: gone, user: u}}]
current-context: gone
`)
	t.Setenv("KUBECONFIG", bad)
	if _, stderr, code := run(t, dir, args...); code == 0 || !strings.Contains(stderr, "nothing deleted") {
		t.Errorf("with the cluster unreachable: exit %d, stderr %q; want a failure that says nothing was deleted", code, stderr)
	}
	if got := tags(image); !slices.Equal(got, before) {
		t.Errorf("with the cluster unreachable, tags were deleted: %v, was %v", got, before)
	}
	t.Setenv("KUBECONFIG", e.Kubeconfig())

	stdout = mustRun(t, dir, args...)
	got := tags(image)
	if slices.Contains(got, gone) || !slices.Contains(got, deployed) || !slices.Contains(got, newest) {
		t.Errorf("after cleanup the tags are %v; want %s deleted, %s (staging runs it) and %s (the newest commit) kept", got, gone, deployed, newest)
	}
	if !strings.Contains(stdout, "deleted cache ") {
		t.Errorf("the deleted branch's build had a cache entry of its own (COPY v.txt with 2), which was not deleted:\n%s", stdout)
	}
	if left := tags(image + "/cache"); len(left) >= len(cacheBefore) {
		t.Errorf("cache entries: %d before, %d after", len(cacheBefore), len(left))
	}
}

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/apply"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestReleasePromotion releases once and deploys the same bytes to staging
// and production: the revisions' manifests digests equal the release's.
func TestReleasePromotion(t *testing.T) {
	e, client := onSandbox(t)
	dir, app := envProject(t, "")
	cleanupNamespaces(t, client, app)
	t.Setenv("SKAFFOLD_DEFAULT_REPO", e.Registry()+"/"+app)
	// The project builds an image now, so the release needs its build.
	mustWrite(t, filepath.Join(dir, "skiff.yaml"), strings.Replace(readFile(t, filepath.Join(dir, "skiff.yaml")), "manifests:", "build:\n  artifacts:\n    - image: web\nmanifests:", 1))
	writeApp(t, dir, "1", "")
	mustWrite(t, filepath.Join(dir, "k8s", "app.yaml"), strings.Replace(readFile(t, filepath.Join(dir, "k8s", "app.yaml")), `image: "busybox:1.36"`, "image: web", 1))
	build := filepath.Join(dir, "build.json")
	mustWrite(t, build, fmt.Sprintf(`{"builds":[{"imageName":"web","tag":%q}]}`, e.BaseImage()+"@"+e.Var("SKIFF_TEST_BASE_IMAGE_DIGEST")))

	if _, stderr, code := run(t, dir, "release", "create", "--tag", "v1.0.0"); code != 2 || !strings.Contains(stderr, "-a FILE") {
		t.Errorf("release create without builds: exit %d, %s", code, stderr)
	}
	ref := strings.TrimSpace(mustRun(t, dir, "release", "create", "--tag", "v1.0.0", "-a", build, "--changelog-output", filepath.Join(dir, "notes.md")))
	if !strings.Contains(ref, "/"+app+"/releases@sha256:") {
		t.Fatalf("release ref %q", ref)
	}
	var shown struct {
		Environments []struct{ Name, Namespace, Digest string }
		Images       []struct{ ImageName, Tag string }
	}
	if err := json.Unmarshal([]byte(mustRun(t, dir, "release", "show", "v1.0.0", "-o", "json")), &shown); err != nil {
		t.Fatal(err)
	}
	if len(shown.Environments) != 2 || len(shown.Images) != 1 {
		t.Fatalf("release show: %+v", shown)
	}
	if list := mustRun(t, dir, "release", "list"); !strings.Contains(list, "v1.0.0") {
		t.Errorf("release list:\n%s", list)
	}

	mustRun(t, dir, "env", "deploy", "staging", "--release", "v1.0.0")
	// A protected environment checks the tag asked for as well as the one
	// the release declares: by digest alone, nothing was asked for.
	if _, stderr, code := run(t, dir, "env", "deploy", "production", "--release", ref, "--approve"); code == 0 || !strings.Contains(stderr, "name the release by its tag") {
		t.Errorf("production deploy by digest without a tag: exit %d, %s", code, stderr)
	}
	mustRun(t, dir, "env", "deploy", "production", "--release", ref, "--ref", "refs/tags/v1.0.0", "--approve")
	records := apply.NewRecords(client)
	for _, env := range shown.Environments {
		recs, err := records.List(context.Background(), env.Namespace, app)
		if err != nil || len(recs) != 1 {
			t.Fatalf("%s records: %v %v", env.Name, recs, err)
		}
		if "sha256:"+recs[0].ManifestsSHA256 != env.Digest {
			t.Errorf("%s: applied manifests sha256:%s, release layer %s", env.Name, recs[0].ManifestsSHA256, env.Digest)
		}
		if recs[0].Tag != "v1.0.0" {
			t.Errorf("%s record tag %q", env.Name, recs[0].Tag)
		}
		dep, err := client.AppsV1().Deployments(env.Namespace).Get(context.Background(), "web", metav1.GetOptions{})
		if err != nil || !strings.Contains(dep.Spec.Template.Spec.Containers[0].Image, "@sha256:") {
			t.Errorf("%s: image not pinned: %v", env.Name, err)
		}
	}
}

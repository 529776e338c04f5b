package cli

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestKoProject runs the parity corpus's ko project as a Skaffold user
// would: skiff build --file-output pushes the ko:// image under the
// default repo, with the base image .ko.yaml names; skiff render -a pins
// the manifest's ko:// reference to the built digest (golden
// rendered.yaml, with the reference as TAG).
func TestKoProject(t *testing.T) {
	env := testenv.Require(t)
	src, err := filepath.Abs("../../testdata/parity/effective/ko")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".ko.yaml"), []byte("defaultBaseImage: "+env.BaseImage()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PARITY_VERSION", "v9.9.9")
	repo := strings.TrimSuffix(env.Repo(t, "x"), "/x")
	stdout, stderr, code := run(t, dir, "build", "-q", "--default-repo", repo, "--cache-dir", t.TempDir(), "--file-output", "artifacts.json")
	if code != 0 {
		t.Fatalf("build: exit %d: %s", code, stderr)
	}
	var built artifact.File
	if err := json.Unmarshal([]byte(stdout), &built); err != nil || len(built.Builds) != 1 {
		t.Fatalf("artifacts %q: %v", stdout, err)
	}
	b := built.Builds[0]
	if b.ImageName != "ko://example.com/parity/cmd/hello" || !strings.HasPrefix(b.Tag, repo+"/example_com_parity_cmd_hello:parity@sha256:") {
		t.Fatalf("build %+v", b)
	}

	ref, err := name.ParseReference(b.Tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cf.Config.Entrypoint; len(got) != 1 || got[0] != "/ko-app/hello" || cf.Config.Labels["org.opencontainers.image.title"] != "hello" {
		t.Errorf("entrypoint %v, labels %v", got, cf.Config.Labels)
	}
	if out := runKoBinary(t, img, "ko-app/hello"); out != "hello from ko v9.9.9\n" {
		t.Errorf("the image's hello printed %q: the ldflags template did not apply", out)
	}

	rendered, stderr, code := run(t, dir, "render", "-a", "artifacts.json", "--offline")
	if code != 0 {
		t.Fatalf("render: exit %d: %s", code, stderr)
	}
	golden := filepath.Join(src, "rendered.yaml")
	got := strings.ReplaceAll(rendered, b.Tag, "TAG")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("render (-want +got; go test -update rewrites it):\n%s", diff)
	}
}

// runKoBinary extracts path from img and runs it here (ko's binaries are
// static linux/amd64), returning its output.
func runKoBinary(t *testing.T, img v1.Image, path string) string {
	t.Helper()
	tr := tar.NewReader(mutate.Extract(img))
	bin := filepath.Join(t.TempDir(), "bin")
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("the image has no %s", path)
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimPrefix(h.Name, "/") != path {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, data, 0o755); err != nil {
			t.Fatal(err)
		}
		break
	}
	out, err := exec.Command(bin).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", path, err, out)
	}
	return string(out)
}

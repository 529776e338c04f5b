package build

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/testenv"
)

// koHello is the ko test project: a main package (cmd/hello) importing an
// internal package, with a kodata file.
func koHello(t *testing.T, image string, k *config.KoArtifact) Target {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("ko", "testdata", "hello"))
	if err != nil {
		t.Fatal(err)
	}
	return Target{Artifact: &config.Artifact{ImageName: image, Workspace: dir, ArtifactType: config.ArtifactType{KoArtifact: k}}}
}

// TestKoBuildPushRun builds the ko project with a ko:// image name on the
// sandbox registry's busybox base, then checks what a user depends on: the
// pushed digest is the one reported, the entrypoint is ko's, the labels
// and linker flags took effect, the binary runs (here, and on the real
// node), and a second build reuses ko's cache and
// gives the same image.
func TestKoBuildPushRun(t *testing.T) {
	env := testenv.Require(t)
	repo := strings.TrimSuffix(env.Repo(t, "x"), "/x")
	target := koHello(t, "ko://example.com/hello/cmd/hello", &config.KoArtifact{
		BaseImage: env.BaseImage(),
		Ldflags:   []string{"-X main.version=v1.2.3"},
		Labels:    map[string]string{"org.opencontainers.image.source": "https://example.com/hello"},
		Env:       []string{"GOFLAGS=-buildvcs=false"},
	})
	cacheDir := t.TempDir()
	var events []Event
	opts := Options{Tag: "t1", DefaultRepo: repo, Push: true, CacheArtifacts: true, CacheDir: cacheDir,
		Events: func(e Event) { events = append(events, e) }}
	builds, err := Run(context.Background(), []Target{target}, opts)
	if err != nil {
		t.Fatal(err)
	}
	wantRepo := repo + "/example_com_hello_cmd_hello"
	if len(builds) != 1 || builds[0].ImageName != target.Artifact.ImageName || !strings.HasPrefix(builds[0].Tag, wantRepo+":t1@sha256:") {
		t.Fatalf("builds = %+v, want %s:t1@sha256:…", builds, wantRepo)
	}
	ref := builds[0].Tag
	tag, err := name.NewTag(wantRepo+":t1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(tag)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(ref, "@"+desc.Digest.String()) {
		t.Errorf("reported %s, registry has %s", ref, desc.Digest)
	}
	var logged []string
	for _, e := range events {
		if e.Kind == ArtifactOutput {
			logged = append(logged, e.Text)
		}
		if e.Kind == ArtifactDone && !e.Pushed {
			t.Error("first build pushed nothing")
		}
	}
	if len(logged) == 0 || !strings.Contains(strings.Join(logged, "\n"), "Building example.com/hello/cmd/hello for linux/amd64") {
		t.Errorf("ko's progress not reported as output: %q", logged)
	}

	img := pullImage(t, ref)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/ko-app/hello"}, cf.Config.Entrypoint); diff != "" {
		t.Errorf("entrypoint (-want +got):\n%s", diff)
	}
	if got := cf.Config.Labels["org.opencontainers.image.source"]; got != "https://example.com/hello" {
		t.Errorf("label = %q", got)
	}
	if !contains(cf.Config.Env, "KO_DATA_PATH=/var/run/ko") {
		t.Errorf("env %v lacks KO_DATA_PATH", cf.Config.Env)
	}
	files := imageFiles(t, img)
	for _, p := range []string{"ko-app/hello", "var/run/ko/motd", "bin/busybox"} {
		if _, ok := files[p]; !ok {
			t.Errorf("image has no %s", p)
		}
	}
	bin := filepath.Join(t.TempDir(), "hello")
	if err := os.WriteFile(bin, files["ko-app/hello"], 0o755); err != nil {
		t.Fatal(err)
	}
	kodata := t.TempDir()
	if err := os.WriteFile(filepath.Join(kodata, "motd"), files["var/run/ko/motd"], 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{"KO_DATA_PATH=" + kodata, "HELLO_MODE=local"}
	out, err := cmd.CombinedOutput()
	want := `hello, ko (version v1.2.3, mode local, motd "from kodata\n")`
	if err != nil || strings.TrimSpace(string(out)) != want {
		t.Errorf("the image's binary printed %q (%v), want %q", out, err, want)
	}
	if _, err := os.Stat(filepath.Join(cacheDir, "ko", "bin")); err != nil {
		t.Errorf("ko's cache (KOCACHE) is not under the cache dir: %v", err)
	}
	if v, ok := os.LookupEnv("KOCACHE"); ok {
		t.Errorf("KOCACHE=%s left set after the build", v)
	}

	// Rebuilt from ko's cache: the same image, nothing pushed.
	events = nil
	again, err := Run(context.Background(), []Target{target}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if again[0] != builds[0] {
		t.Errorf("rebuild changed the image: %s, was %s", again[0].Tag, builds[0].Tag)
	}
	for _, e := range events {
		if e.Kind == ArtifactDone && e.Pushed {
			t.Error("an unchanged rebuild pushed again")
		}
	}

	t.Run("real node", func(t *testing.T) {
		node := env.RealNode(t) // its containerd pulls from the sandbox registry as 127.0.0.1
		ns := env.Namespace(t, "ko")
		env.WaitDefaultServiceAccount(t, ns)
		grace := int64(0)
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "hello"}, Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever, TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{Name: "hello", Image: ref,
				Env: []corev1.EnvVar{{Name: "HELLO_MODE", Value: "pod"}}}},
		}}
		done, logs := node.RunPod(t, ns, pod, 2*time.Minute)
		want := `hello, ko (version v1.2.3, mode pod, motd "from kodata\n")`
		if done.Status.Phase != corev1.PodSucceeded || strings.TrimSpace(logs) != want {
			t.Errorf("pod %s, logs %q; want Succeeded and %q", done.Status.Phase, logs, want)
		}
	})
}

// TestKoImageNames checks Skaffold's ko:// rules: pushing one needs a
// default repo; a plain name with ko.main builds that package.
func TestKoImageNames(t *testing.T) {
	env := testenv.Require(t)
	target := koHello(t, "ko://example.com/hello/cmd/hello", &config.KoArtifact{BaseImage: env.BaseImage()})
	_, err := Run(context.Background(), []Target{target}, Options{Tag: "t1", Push: true})
	if err == nil || !strings.Contains(err.Error(), "default-repo") {
		t.Errorf("pushing a ko:// image without a default repo: %v", err)
	}

	repo := env.Repo(t, "hello")
	plain := koHello(t, repo, &config.KoArtifact{BaseImage: env.BaseImage(), Main: "./cmd/hello"})
	builds, err := Run(context.Background(), []Target{plain}, Options{Tag: "t2", Push: true, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(builds[0].Tag, repo+":t2@sha256:") {
		t.Errorf("tag %s", builds[0].Tag)
	}
	if _, ok := imageFiles(t, pullImage(t, builds[0].Tag))["ko-app/hello"]; !ok {
		t.Error("ko.main ./cmd/hello did not build hello")
	}

	lib := koHello(t, env.Repo(t, "lib"), &config.KoArtifact{BaseImage: env.BaseImage(), Main: "./internal/greet"})
	_, err = Run(context.Background(), []Target{lib}, Options{Tag: "t3", Push: true, CacheDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "package main") {
		t.Errorf("building a non-main package: %v", err)
	}
}

func pullImage(t *testing.T, ref string) v1.Image {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// imageFiles returns the regular files of img's flattened filesystem.
func imageFiles(t *testing.T, img v1.Image) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(mutate.Extract(img))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimPrefix(h.Name, "/")] = b
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

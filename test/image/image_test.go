package image_test

import (
	"archive/tar"
	"io"
	"os"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/testenv"
)

const (
	version = testenv.SkiffImageVersion
	commit  = testenv.SkiffImageCommit
)

// The image holds what the issue asks for and nothing pulled from outside:
// one layer FROM scratch, root in /workspace, the version labels.
func TestImageContents(t *testing.T) {
	env := testenv.Require(t)
	ref := env.SkiffImage(t)
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	c := cf.Config
	if c.User != "0" || c.WorkingDir != "/workspace" {
		t.Errorf("user %q, workdir %q; want 0 and /workspace", c.User, c.WorkingDir)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.version":  version,
		"org.opencontainers.image.revision": commit,
	} {
		if got := c.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Errorf("%d layers, want 1 (FROM scratch, one COPY)", len(layers))
	}
	files, err := imageFiles(img)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"usr/local/bin/skiff", "bin/busybox", "bin/sh", "etc/ssl/certs/ca-certificates.crt", "etc/passwd", "tmp", "workspace"} {
		if _, ok := files[p]; !ok {
			t.Errorf("the image has no /%s", p)
		}
	}
	if f := files["tmp"]; f.Mode&os.ModeSticky == 0 || f.Mode.Perm() != 0o777 {
		t.Errorf("/tmp has mode %v, want 1777", f.Mode)
	}
}

// The image runs skiff version, and skiff build from a shell, as pods on
// the real node with the runtime's defaults (no privilege, no added
// capabilities, RuntimeDefault seccomp): the build picks container
// isolation and pushes to the sandbox registry.
func TestImageRunsOnTheRealNode(t *testing.T) {
	env, node := testenv.RequireRealNode(t)
	ref := env.SkiffImage(t)
	ns := env.Namespace(t, "image")

	pod, logs := node.RunPod(t, ns, imagePod("version", ref, nil, "skiff version"), 3*time.Minute)
	if pod.Status.Phase != corev1.PodSucceeded || !strings.Contains(logs, version) {
		t.Fatalf("skiff version in the image: phase %s, logs:\n%s", pod.Status.Phase, logs)
	}

	// The build pushes to the registry under its pod address; the test
	// reads the same repository through the host's loopback.
	built := env.Repo(t, "built")
	inPod := strings.Replace(built, env.Registry(), node.Registry, 1)
	base := strings.Replace(env.BaseImage(), env.Registry(), node.Registry, 1)
	script := `set -e
mkdir -p /workspace/app && cd /workspace/app
printf 'FROM %s\nRUN echo built in a pod > /hello && id -u > /uid\n' "$BASE" > Dockerfile
printf 'apiVersion: skaffold/v4beta11\nkind: Config\nbuild:\n  artifacts:\n    - image: %s\n' "$IMAGE" > skaffold.yaml
skiff build --insecure-registry "$REGISTRY" -t v1 --file-output /workspace/build.json
echo "artifacts: $(cat /workspace/build.json)"`
	envs := []corev1.EnvVar{{Name: "BASE", Value: base}, {Name: "IMAGE", Value: inPod}, {Name: "REGISTRY", Value: node.Registry}}
	pod, logs = node.RunPod(t, ns, imagePod("build", ref, envs, script), 5*time.Minute)
	if pod.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("sh -c 'skiff build …' in the image: phase %s, logs:\n%s", pod.Status.Phase, logs)
	}
	if !strings.Contains(logs, "isolation: container") || !strings.Contains(logs, inPod+":v1@sha256:") {
		t.Errorf("the build did not run in container isolation or push %s:v1; logs:\n%s", inPod, logs)
	}
	r, err := name.ParseReference(built+":v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("the image the pod pushed: %v", err)
	}
	files, err := imageFiles(img)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(files["hello"].Content); got != "built in a pod\n" {
		t.Errorf("/hello in the built image = %q", got)
	}
}

// imagePod runs script with the image's sh, as the runtime's defaults
// allow and no more.
func imagePod(name, image string, env []corev1.EnvVar, script string) *corev1.Pod {
	no, grace := false, int64(1)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: &grace,
			AutomountServiceAccountToken:  &no,
			Containers: []corev1.Container{{
				Name: "skiff", Image: image, Command: []string{"sh", "-c", script}, Env: env,
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: &no,
					SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
				},
			}},
		},
	}
}

// file is one entry of an image's flattened file system.
type file struct {
	Mode    os.FileMode
	Content []byte
}

// imageFiles reads the image's flattened file system, paths without the
// leading slash.
func imageFiles(img v1.Image) (map[string]file, error) {
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]file{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		f := file{Mode: h.FileInfo().Mode()}
		if h.Typeflag == tar.TypeReg && h.Size < 1<<20 {
			if f.Content, err = io.ReadAll(tr); err != nil {
				return nil, err
			}
		}
		out[strings.TrimSuffix(strings.TrimPrefix(path.Clean("/"+h.Name), "/"), "/")] = f
	}
}

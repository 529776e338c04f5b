package testenv_test

// These tests are the acceptance of the sandbox itself: if they pass, the
// registry, the control plane and kwok do what skiff's integration tests
// rely on.

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/skiff-dev/skiff/internal/testenv"
)

// waitFor watches one named object, shaped like proto, until cond holds or
// the timeout passes, and returns the object that satisfied cond.
func waitFor[T runtime.Object](t *testing.T, c cache.Getter, resource, ns, objName string, proto T, timeout time.Duration, cond func(T) bool) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	lw := cache.NewListWatchFromClient(c, resource, ns, fields.OneTermEqualSelector("metadata.name", objName))
	last := proto
	_, err := watchtools.UntilWithSync(ctx, lw, proto, nil, func(ev watch.Event) (bool, error) {
		obj, ok := ev.Object.(T)
		if !ok {
			return false, nil
		}
		last = obj
		return cond(obj), nil
	})
	if err != nil {
		t.Fatalf("%s %s/%s: condition not reached within %s: %v\nlast seen: %+v", resource, ns, objName, timeout, err, last)
	}
	return last
}

func TestDeploymentBecomesAvailable(t *testing.T) {
	t.Parallel()
	env := testenv.Require(t)
	cs := env.Clientset(t)
	ns := env.Namespace(t, "deploy")

	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(3)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: env.BaseImage(), Command: []string{"sleep", "3600"},
				}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(t.Context(), dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, cs.AppsV1().RESTClient(), "deployments", ns, "web", &appsv1.Deployment{}, 2*time.Minute, func(d *appsv1.Deployment) bool {
		if d.Status.ObservedGeneration < d.Generation || d.Status.AvailableReplicas != 3 {
			return false
		}
		for _, c := range d.Status.Conditions {
			if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
				return true
			}
		}
		return false
	})

	pods, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName == "" || p.Status.Phase != corev1.PodRunning {
			t.Errorf("pod %s: node %q phase %s, want scheduled and Running", p.Name, p.Spec.NodeName, p.Status.Phase)
		}
	}
}

func TestRegistryRoundTrip(t *testing.T) {
	t.Parallel()
	env := testenv.Require(t)
	ref, err := name.ParseReference(env.Repo(t, "random") + ":v1")
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(4096, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithContext(t.Context())); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	pulled, err := remote.Image(ref, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	got, err := pulled.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("pulled digest %s, pushed %s", got, want)
	}
	layers, err := pulled.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 3 {
		t.Errorf("pulled %d layers, pushed 3", len(layers))
	}
}

func TestBaseImage(t *testing.T) {
	t.Parallel()
	env := testenv.Require(t)
	ref, err := name.ParseReference(env.BaseImage())
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("pulling base image %s: %v", ref, err)
	}
	if want := env.Var(testenv.KeyBaseImageDigest); want != "" {
		if got, _ := img.Digest(); got.String() != want {
			t.Errorf("base image digest %s, .testenv/env says %s", got, want)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	if !slices.ContainsFunc(cf.Config.Env, func(e string) bool { return strings.HasPrefix(e, "PATH=") }) {
		t.Errorf("config Env %q has no PATH", cf.Config.Env)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Errorf("%d layers, want 1", len(layers))
	}

	files := map[string]*tar.Header{}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")] = h
	}
	if h := files["bin/busybox"]; h == nil || h.Typeflag != tar.TypeReg || h.Mode&0o111 == 0 {
		t.Errorf("bin/busybox: %+v, want an executable file", h)
	}
	if h := files["bin/sh"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "busybox" {
		t.Errorf("bin/sh: %+v, want a symlink to busybox", h)
	}
	if h := files["tmp"]; h == nil || h.Typeflag != tar.TypeDir || h.Mode&0o7777 != 0o1777 {
		t.Errorf("tmp: %+v, want a directory with mode 1777", h)
	}
	for _, f := range []string{"etc/passwd", "etc/group"} {
		if files[f] == nil {
			t.Errorf("%s missing", f)
		}
	}
}

// TestKwokStageSimulatesImagePullBackOff checks the failure-simulation path:
// a Stage scoped to the test's namespace keeps its pods waiting with
// ImagePullBackOff, as a missing image would on a real node.
func TestKwokStageSimulatesImagePullBackOff(t *testing.T) {
	t.Parallel()
	env := testenv.Require(t)
	cs := env.Clientset(t)
	ns := env.Namespace(t, "stage")
	env.KwokStage(t, []byte(fmt.Sprintf(imagePullBackOffStage, ns, ns)))

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: env.Registry() + "/does/not:exist",
		}}},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, cs.CoreV1().RESTClient(), "pods", ns, "app", &corev1.Pod{}, time.Minute, func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 &&
			p.Status.ContainerStatuses[0].State.Waiting != nil &&
			p.Status.ContainerStatuses[0].State.Waiting.Reason == "ImagePullBackOff"
	})
	if got.Status.Phase != corev1.PodPending {
		t.Errorf("phase %s, want Pending", got.Status.Phase)
	}
}

// imagePullBackOffStage outweighs kwok's pod-ready stage for pods in one
// namespace. Its status has no timestamps, so re-applying it changes
// nothing and kwok settles.
const imagePullBackOffStage = `
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: %s-image-pull-backoff
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.namespace'
      operator: In
      values: ['%s']
    - key: '.metadata.deletionTimestamp'
      operator: DoesNotExist
    - key: '.status.phase'
      operator: In
      values: ['Pending']
  weight: 10000
  next:
    statusTemplate: |
      phase: Pending
      containerStatuses:
      {{ range .spec.containers }}
      - name: {{ .name | Quote }}
        image: {{ .image | Quote }}
        imageID: ""
        ready: false
        started: false
        restartCount: 0
        state:
          waiting:
            reason: ImagePullBackOff
            message: {{ printf "Back-off pulling image %%q" .image | Quote }}
      {{ end }}
`

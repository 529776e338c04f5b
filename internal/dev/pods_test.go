package dev

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/manifest"
)

func TestWorkloadSelectors(t *testing.T) {
	t.Parallel()
	objs, err := manifest.Parse([]byte(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template: {metadata: {labels: {app: web, tier: front}}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: other}
spec:
  template: {metadata: {labels: {job: migrate}}}
---
apiVersion: v1
kind: Pod
metadata: {name: debug}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}}
`), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sels := workloadSelectors(objs, "dev")
	pod := func(ns, name string, labels map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}}
	}
	tests := []struct {
		pod  *corev1.Pod
		want bool
	}{
		{pod("dev", "web-1", map[string]string{"app": "web", "pod-template-hash": "x"}), true},
		{pod("other", "web-1", map[string]string{"app": "web"}), false},
		{pod("other", "migrate-1", map[string]string{"job": "migrate"}), true},
		{pod("dev", "debug", nil), true},
		{pod("dev", "api-1", map[string]string{"app": "api"}), false},
	}
	for _, tt := range tests {
		got := false
		for _, s := range sels {
			got = got || s.matches(tt.pod)
		}
		if got != tt.want {
			t.Errorf("pod %s/%s %v selected: %v, want %v", tt.pod.Namespace, tt.pod.Name, tt.pod.Labels, got, tt.want)
		}
	}
}

func TestContainersRunning(t *testing.T) {
	t.Parallel()
	const ref = "reg/web:dev@sha256:aaa"
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	mk := func(name string, phase corev1.PodPhase, deleting bool, image string, state corev1.ContainerState) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}, {Name: "sidecar", Image: "envoy"}}},
			Status: corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{
				{Name: "app", State: state}, {Name: "sidecar", State: running},
			}},
		}
		if deleting {
			p.DeletionTimestamp = &metav1.Time{}
		}
		return p
	}
	pods := []*corev1.Pod{
		mk("current", corev1.PodRunning, false, ref, running),
		mk("same-digest", corev1.PodRunning, false, "other/name@sha256:aaa", running),
		mk("old-image", corev1.PodRunning, false, "reg/web:dev@sha256:bbb", running),
		mk("terminating", corev1.PodRunning, true, ref, running),
		mk("pending", corev1.PodPending, false, ref, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{}}),
	}
	want := []Container{{"ns", "current", "app"}, {"ns", "same-digest", "app"}}
	if diff := cmp.Diff(want, containersRunning(pods, ref)); diff != "" {
		t.Errorf("containersRunning (-want +got):\n%s", diff)
	}
}

func TestTarOf(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"index.html": "<p>hi</p>"})
	if err := os.Symlink("index.html", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	data, err := tarOf([]FileCopy{
		{Local: filepath.Join(dir, "index.html"), Dest: "/www/index.html"},
		{Local: filepath.Join(dir, "link"), Dest: "www/link"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(data))
	var got []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		got = append(got, h.Name+" "+string(body)+h.Linkname)
	}
	if diff := cmp.Diff([]string{"www/index.html <p>hi</p>", "www/link index.html"}, got); diff != "" {
		t.Errorf("archive (-want +got):\n%s", diff)
	}
}

package cluster

import (
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/skiff-dev/skiff/internal/build/dockerbuild"
	"github.com/skiff-dev/skiff/internal/build/sandbox"
	"github.com/skiff-dev/skiff/internal/config"
)

func node(t *testing.T, src string) config.Any {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return *doc.Content[0]
}

// The build pod asks for nothing beyond the runtime's defaults, and
// build.cluster's settings land where Kubernetes reads them.
func TestPodSpec(t *testing.T) {
	uid := int64(0)
	o := &Options{Image: "reg/skiff:1", Details: &config.ClusterDetails{
		ServiceAccount: "builder", NodeSelector: map[string]string{"pool": "builds"}, RunAsUser: &uid,
		Labels: map[string]string{"team": "a"}, Annotations: map[string]string{"n": "1"},
		Tolerations:    []config.Any{node(t, "{key: builds, operator: Exists, effect: NoSchedule}")},
		Resources:      &config.ResourceRequirements{Limits: &config.ResourceRequirement{CPU: "2", Memory: "4Gi"}},
		PullSecretName: "gcp",
	}}
	p, err := podSpec(o, "skiff-build-app-1", "reg.example/app", "docker-cfg", 1201)
	if err != nil {
		t.Fatal(err)
	}
	c := p.Spec.Containers[0]
	sc := c.SecurityContext
	if *sc.Privileged || *sc.AllowPrivilegeEscalation || sc.Capabilities != nil || sc.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("security context %+v: want unprivileged, no escalation, no capabilities, RuntimeDefault", sc)
	}
	if p.Spec.HostNetwork || p.Spec.HostPID || p.Spec.HostIPC || *p.Spec.ActiveDeadlineSeconds != 1201 {
		t.Error("host namespaces or deadline wrong")
	}
	if p.Spec.ServiceAccountName != "builder" || p.Spec.NodeSelector["pool"] != "builds" || p.Labels["team"] != "a" || p.Labels[LabelBuild] != "true" ||
		p.Annotations["n"] != "1" || len(p.Spec.Tolerations) != 1 || p.Spec.Tolerations[0].Key != "builds" || c.Resources.Limits.Memory().String() != "4Gi" {
		t.Errorf("build.cluster settings not applied: %+v", p)
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	if mounts["docker-config"] != dockerConfigDir || mounts["pull-secret"] != defaultPullSecretMountPath {
		t.Errorf("mounts %v", mounts)
	}
	if _, err := podSpec(&Options{Image: "x", Details: &config.ClusterDetails{
		Resources: &config.ResourceRequirements{Requests: &config.ResourceRequirement{CPU: "lots"}},
	}}, "n", "a", "", 1); err == nil || !strings.Contains(err.Error(), "build.cluster.resources.requests.cpu") {
		t.Errorf("a bad quantity: %v", err)
	}
}

// A failed instruction comes back as the local builder reports it.
func TestErrorRoundTrip(t *testing.T) {
	err := &dockerbuild.StepError{File: "/workspace/job-1/Dockerfile", Line: 7, Instruction: "RUN make", Err: &sandbox.ExitError{Code: 2}, Output: []string{"boom"}}
	back := errorOf(err).err("ns/pod", "/home/me/app/Dockerfile")
	var se *dockerbuild.StepError
	var ee *sandbox.ExitError
	if !errors.As(back, &se) || !errors.As(back, &ee) || se.File != "/home/me/app/Dockerfile" || se.Line != 7 || ee.Code != 2 || se.Output[0] != "boom" {
		t.Errorf("got %v", back)
	}
	var pe *PodError
	if !errors.As(errorOf(errors.New("pulling base: denied")).err("ns/pod", "Dockerfile"), &pe) || pe.Pod != "ns/pod" {
		t.Error("a failure without an instruction is not a *PodError")
	}
}

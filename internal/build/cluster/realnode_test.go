package cluster_test

import (
	"archive/tar"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/build"
	"github.com/skiff-dev/skiff/internal/build/cluster"
	"github.com/skiff-dev/skiff/internal/build/dockerbuild"
	"github.com/skiff-dev/skiff/internal/build/sandbox"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/testenv"
)

// seedFiles is a project of the seed's shape: a multi-stage Dockerfile
// (a builder stage, then the runtime stage copying from it and from the
// context) and a .dockerignore keeping a secret out of the context.
func seedFiles(base string) map[string]string {
	return map[string]string{
		"Dockerfile": "ARG BASE=" + base + "\n" +
			"FROM ${BASE} AS builder\n" +
			"WORKDIR /src\n" +
			"COPY src/ ./\n" +
			"RUN cat a.txt b.txt > /combined && echo built >> /combined\n" +
			"FROM ${BASE}\n" +
			"COPY --from=builder /combined /app/combined\n" +
			"COPY static/ /app/static/\n" +
			"RUN ls /app/static > /app/listing\n" +
			"CMD [\"cat\", \"/app/combined\"]\n",
		".dockerignore":     "*.secret\n",
		"src/a.txt":         "alpha\n",
		"src/b.txt":         "beta\n",
		"static/index.html": "<p>hi</p>\n",
		"deploy.secret":     "do-not-ship",
	}
}

func writeProject(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for n, c := range files {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// rig is a cluster builder on the sandbox's real node.
type rig struct {
	env  *testenv.Env
	node *testenv.RealNode
	ns   string
	opts cluster.Options
}

func newRig(t *testing.T) *rig {
	env, node := testenv.RequireRealNode(t)
	cfg, err := env.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	ns := env.Namespace(t, "cluster-build")
	return &rig{env: env, node: node, ns: ns, opts: cluster.Options{
		Image: env.SkiffImage(t), Config: cfg, Client: env.Clientset(t), Namespace: ns,
		Aliases: map[string]string{env.Registry(): node.Registry}, Place: node.Place,
		Push: true, CacheArtifacts: true,
	}}
}

// run builds dir's Dockerfile as repo:tag, in the cluster when c is set,
// else locally; events are collected.
func (r *rig) run(t *testing.T, c *cluster.Builder, dir, repo, tag string, reproducible bool) (string, build.Event, []build.Event, error) {
	t.Helper()
	a := &config.Artifact{ImageName: repo, Workspace: dir, ArtifactType: config.ArtifactType{DockerArtifact: &config.DockerArtifact{}}}
	var mu sync.Mutex
	var events []build.Event
	var done build.Event
	opts := build.Options{
		Tag: tag, Push: true, CacheArtifacts: true, CacheDir: filepath.Join(t.TempDir(), "cache"), Reproducible: reproducible,
		Events: func(e build.Event) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, e)
			if e.Kind == build.ArtifactDone {
				done = e
			}
		},
	}
	if c != nil {
		opts.Dockerfiles = c
	}
	res, err := build.Run(t.Context(), []build.Target{{Artifact: a}}, opts)
	if err != nil {
		return "", done, events, err
	}
	return res[0].Tag, done, events, nil
}

func (r *rig) builder(t *testing.T, mutate func(*cluster.Options)) *cluster.Builder {
	t.Helper()
	o := r.opts
	if mutate != nil {
		mutate(&o)
	}
	b, err := cluster.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}

// noBuildPods fails when a build pod is left in the namespace.
func (r *rig) noBuildPods(t *testing.T) {
	t.Helper()
	pods, err := r.env.Clientset(t).CoreV1().Pods(r.ns).List(t.Context(), metav1.ListOptions{LabelSelector: cluster.LabelBuild + "=true"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			t.Errorf("build pod %s is still there (phase %s)", p.Name, p.Status.Phase)
		}
	}
}

// The seed-shaped project built in the cluster gives the image a local
// build gives, file by file, and by digest with --reproducible; a cluster
// build after a local one, and a second cluster build, are all cache hits.
func TestClusterBuildMatchesLocal(t *testing.T) {
	r := newRig(t)
	dir := writeProject(t, seedFiles(r.env.BaseImage()))
	b := r.builder(t, nil)

	cold := r.env.Repo(t, "cold")
	inCluster, done, events, err := r.run(t, b, dir, cold+"-cluster", "v1", false)
	if err != nil {
		t.Fatalf("cluster build: %v\nevents: %v", err, events)
	}
	if done.Cached != 0 || done.Steps == 0 {
		t.Errorf("cold cluster build: %d steps, %d cached; want steps and no hits", done.Steps, done.Cached)
	}
	if !sawIsolation(events, "container") {
		t.Errorf("the build pod did not report container isolation; events: %v", events)
	}
	local, _, _, err := r.run(t, nil, dir, cold+"-local", "v1", false)
	if err != nil {
		t.Fatalf("local build: %v", err)
	}
	cf, lf := files(t, inCluster), files(t, local)
	if len(cf) == 0 || !equalFiles(t, cf, lf) {
		t.Error("the cluster build's files differ from the local build's")
	}
	if _, ok := cf["app/combined"]; !ok || string(cf["app/combined"].content) != "alpha\nbeta\nbuilt\n" {
		t.Errorf("/app/combined = %q", cf["app/combined"].content)
	}
	for p := range cf {
		if strings.Contains(p, "secret") {
			t.Errorf("%s is in the image: .dockerignore was not applied", p)
		}
	}

	// Reproducible: local first, then the cluster reuses every layer.
	repo := r.env.Repo(t, "repro")
	localRef, _, _, err := r.run(t, nil, dir, repo, "local", true)
	if err != nil {
		t.Fatal(err)
	}
	clusterRef, done, _, err := r.run(t, b, dir, repo, "cluster", true)
	if err != nil {
		t.Fatal(err)
	}
	if digestOf(localRef) != digestOf(clusterRef) {
		t.Errorf("reproducible digests differ: local %s, cluster %s", localRef, clusterRef)
	}
	if done.Steps == 0 || done.Cached != done.Steps {
		t.Errorf("cluster build after a local one: %d of %d steps cached, want all", done.Cached, done.Steps)
	}
	_, done, _, err = r.run(t, b, dir, repo, "again", true)
	if err != nil {
		t.Fatal(err)
	}
	if done.Steps == 0 || done.Cached != done.Steps {
		t.Errorf("second cluster build: %d of %d steps cached, want all", done.Cached, done.Steps)
	}
	r.noBuildPods(t)
}

// A failing RUN fails the cluster build with the instruction, its line
// and the exit code, as locally; the pod is gone afterwards.
func TestClusterBuildFailingRun(t *testing.T) {
	r := newRig(t)
	dir := writeProject(t, map[string]string{
		"Dockerfile": "FROM " + r.env.BaseImage() + "\nRUN echo preparing\nRUN echo about to fail && exit 3\n",
	})
	_, _, events, err := r.run(t, r.builder(t, nil), dir, r.env.Repo(t, "fail"), "v1", false)
	var se *dockerbuild.StepError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T), want a *dockerbuild.StepError", err, err)
	}
	var ee *sandbox.ExitError
	if se.Line != 3 || !strings.Contains(se.Instruction, "exit 3") || !errors.As(err, &ee) || ee.Code != 3 {
		t.Errorf("line %d, instruction %q, exit %v; want line 3, the RUN, exit code 3", se.Line, se.Instruction, ee)
	}
	if se.File != filepath.Join(dir, "Dockerfile") {
		t.Errorf("the error names %s, want the local Dockerfile", se.File)
	}
	if !strings.Contains(err.Error(), "Dockerfile:3") || !strings.Contains(err.Error(), "exit code 3") {
		t.Errorf("error %q does not name the line and exit code", err)
	}
	if !sawOutput(events, "about to fail") {
		t.Errorf("the failing RUN's output did not stream back; events: %v", events)
	}
	r.noBuildPods(t)
}

// A build over build.cluster.timeout fails saying so, and its pod is
// deleted.
func TestClusterBuildTimeout(t *testing.T) {
	r := newRig(t)
	dir := writeProject(t, map[string]string{"Dockerfile": "FROM " + r.env.BaseImage() + "\nRUN sleep 300\n"})
	b := r.builder(t, func(o *cluster.Options) { o.Details = &config.ClusterDetails{Timeout: "20s"} })
	start := time.Now()
	_, _, _, err := r.run(t, b, dir, r.env.Repo(t, "slow"), "v1", false)
	var te *cluster.TimeoutError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "the pod is deleted") {
		t.Fatalf("error %v, want a *cluster.TimeoutError saying the pod is deleted", err)
	}
	if d := time.Since(start); d > 2*time.Minute {
		t.Errorf("the timed-out build took %s", d)
	}
	r.noBuildPods(t)
}

// The build pod has the runtime's defaults and nothing more, and the
// registry credentials of dockerConfig.path reach it only as a Secret:
// never in the pod's spec, its events, its logs or the build's progress;
// the Secret is gone after Close.
func TestBuildPodSecurityAndCredentials(t *testing.T) {
	r := newRig(t)
	const password = "hunter2-cluster-credential"
	auth := base64.StdEncoding.EncodeToString([]byte("builder:" + password))
	cfgPath := filepath.Join(t.TempDir(), "config.json")
	cfg := `{"auths":{"registry.example.invalid":{"auth":"` + auth + `"}}}`
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := cluster.New(withDetails(r.opts, &config.ClusterDetails{
		DockerConfig: &config.DockerConfig{Path: cfgPath}, RandomDockerConfigSecret: true,
		Labels: map[string]string{"team": "build"}, Annotations: map[string]string{"note": "cluster-test"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	cs := r.env.Clientset(t)
	w, err := cs.CoreV1().Pods(r.ns).Watch(t.Context(), metav1.ListOptions{LabelSelector: cluster.LabelBuild + "=true"})
	if err != nil {
		t.Fatal(err)
	}
	var seen []corev1.Pod
	var logs strings.Builder
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok {
				seen = append(seen, *p)
				if p.Status.Phase == corev1.PodRunning && logs.Len() == 0 {
					if rc, err := cs.CoreV1().Pods(r.ns).GetLogs(p.Name, &corev1.PodLogOptions{}).Stream(context.Background()); err == nil {
						b, _ := io.ReadAll(rc)
						rc.Close()
						logs.Write(b)
						logs.WriteString("\n")
					}
				}
			}
		}
	}()
	dir := writeProject(t, map[string]string{"Dockerfile": "FROM " + r.env.BaseImage() + "\nRUN echo secure-build\n"})
	_, _, events, err := r.run(t, b, dir, r.env.Repo(t, "secure"), "v1", false)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	secretName := ""
	for _, p := range seen {
		for _, v := range p.Spec.Volumes {
			if v.Secret != nil && strings.HasPrefix(v.Secret.SecretName, "skiff-docker-cfg-") {
				secretName = v.Secret.SecretName
			}
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	w.Stop()
	<-watched
	if len(seen) == 0 {
		t.Fatal("the watch saw no build pod")
	}
	p := seen[0]
	if p.Labels["team"] != "build" || p.Annotations["note"] != "cluster-test" {
		t.Errorf("labels %v, annotations %v: build.cluster's were not applied", p.Labels, p.Annotations)
	}
	c := p.Spec.Containers[0]
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Fatal("no security context")
	case sc.Privileged == nil || *sc.Privileged:
		t.Error("the build pod is privileged")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("allowPrivilegeEscalation is not false")
	case sc.Capabilities != nil && len(sc.Capabilities.Add) > 0:
		t.Errorf("capabilities added: %v", sc.Capabilities.Add)
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Error("seccomp is not the runtime's default")
	}
	if p.Spec.HostNetwork || p.Spec.HostPID || p.Spec.HostIPC {
		t.Error("the build pod shares a host namespace")
	}
	if secretName == "" {
		t.Error("the docker config did not reach the pod as a Secret volume")
	} else if _, err := cs.CoreV1().Secrets(r.ns).Get(t.Context(), secretName, metav1.GetOptions{}); err == nil {
		t.Errorf("Secret %s is still there after Close", secretName)
	}
	evs, err := cs.CoreV1().Events(r.ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dump := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	progress := dump(events)
	if !strings.Contains(progress, "secure-build") {
		t.Errorf("the RUN's output did not stream back; progress: %s", progress)
	}
	for what, text := range map[string]string{"pod spec": dump(seen), "events": dump(evs.Items), "pod logs": logs.String(), "build progress": progress} {
		if strings.Contains(text, password) || strings.Contains(text, auth) {
			t.Errorf("the credential appears in the %s", what)
		}
	}
	r.noBuildPods(t)
}

func withDetails(o cluster.Options, d *config.ClusterDetails) cluster.Options {
	o.Details = d
	return o
}

func sawIsolation(events []build.Event, mode string) bool {
	for _, e := range events {
		if e.Step != nil && e.Step.Kind == dockerbuild.IsolationSelected && e.Step.Text == mode {
			return true
		}
	}
	return false
}

func sawOutput(events []build.Event, text string) bool {
	for _, e := range events {
		if e.Step != nil && e.Step.Kind == dockerbuild.StepOutput && strings.Contains(e.Step.Text, text) {
			return true
		}
	}
	return false
}

func digestOf(ref string) string {
	_, d, _ := strings.Cut(ref, "@")
	return d
}

type file struct {
	mode    os.FileMode
	link    string
	content []byte
}

// files reads an image's flattened file system.
func files(t *testing.T, ref string) map[string]file {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	return flatten(t, img)
}

func flatten(t *testing.T, img v1.Image) map[string]file {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]file{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		f := file{mode: h.FileInfo().Mode(), link: h.Linkname}
		if h.Typeflag == tar.TypeReg {
			if f.content, err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
		out[strings.Trim(h.Name, "/")] = f
	}
}

func equalFiles(t *testing.T, a, b map[string]file) bool {
	t.Helper()
	ok := len(a) == len(b)
	for p, fa := range a {
		fb, found := b[p]
		if !found || fa.mode != fb.mode || fa.link != fb.link || string(fa.content) != string(fb.content) {
			t.Errorf("%s: cluster %v %q (%d bytes), local %v %q (%d bytes, present %v)", p, fa.mode, fa.link, len(fa.content), fb.mode, fb.link, len(fb.content), found)
			ok = false
		}
	}
	return ok
}

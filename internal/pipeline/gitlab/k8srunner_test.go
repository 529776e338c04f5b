package gitlab

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/joho/godotenv"
	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/skiff-dev/skiff/internal/kube"
	"github.com/skiff-dev/skiff/internal/testenv"
)

// This file is a small model of GitLab Runner's Kubernetes executor, for
// running the jobs of a generated .gitlab-ci.yml on the sandbox's real node:
// one pod per job, the job's variables in its environment (masked ones from
// a Secret, File-type ones as files in <project dir>.tmp, as the runner
// writes them), the sources (with .git) and the artifacts of the jobs it
// needs unpacked in CI_PROJECT_DIR, the script run by exec in one shell
// with set -eo pipefail, each line echoed as "$ line", and afterwards the
// artifacts paths and the dotenv report read back from the pod. The dotenv
// variables of a job's needs become its variables (above the YAML ones,
// below the project's, as GitLab ranks them).

// ciFile is the part of a .gitlab-ci.yml the runner reads.
type ciFile struct {
	image     string
	stages    []string
	variables map[string]string
	jobs      map[string]*ciJob
}

type ciJob struct {
	name      string
	Stage     string            `yaml:"stage"`
	Needs     *[]string         `yaml:"needs"`
	Script    []string          `yaml:"script"`
	Variables map[string]string `yaml:"variables"`
	Artifacts struct {
		Paths   []string `yaml:"paths"`
		Reports struct {
			Dotenv string `yaml:"dotenv"`
		} `yaml:"reports"`
	} `yaml:"artifacts"`
	Environment struct {
		Name   string `yaml:"name"`
		Action string `yaml:"action"`
		Tier   string `yaml:"deployment_tier"`
	} `yaml:"environment"`
}

// ciKeywords are the top-level keys that are not jobs.
var ciKeywords = []string{"workflow", "stages", "default", "variables", "include", "image", "services", "before_script", "after_script", "cache"}

func parseCI(t *testing.T, data []byte) *ciFile {
	t.Helper()
	var top map[string]yaml.Node
	if err := yaml.Unmarshal(data, &top); err != nil {
		t.Fatalf(".gitlab-ci.yml: %v", err)
	}
	f := &ciFile{jobs: map[string]*ciJob{}}
	var def struct {
		Image string `yaml:"image"`
	}
	for key, node := range top {
		var err error
		switch {
		case key == "stages":
			err = node.Decode(&f.stages)
		case key == "variables":
			err = node.Decode(&f.variables)
		case key == "default":
			err = node.Decode(&def)
		case slices.Contains(ciKeywords, key) || strings.HasPrefix(key, "."):
		default:
			j := &ciJob{name: key}
			err = node.Decode(j)
			f.jobs[key] = j
		}
		if err != nil {
			t.Fatalf(".gitlab-ci.yml: %s: %v", key, err)
		}
	}
	f.image = def.Image
	return f
}

// needs are the jobs whose artifacts and dotenv variables j gets: its
// needs, else every job of an earlier stage.
func (f *ciFile) needs(j *ciJob, run []string) []string {
	if j.Needs != nil {
		return *j.Needs
	}
	var out []string
	for _, name := range run {
		if slices.Index(f.stages, f.jobs[name].Stage) < slices.Index(f.stages, j.Stage) {
			out = append(out, name)
		}
	}
	return out
}

// order sorts the jobs to run so that each comes after what it needs
// (stage order, then name, among those that are ready).
func (f *ciFile) order(t *testing.T, run []string) []string {
	t.Helper()
	var out []string
	done := map[string]bool{}
	for len(out) < len(run) {
		var ready []string
		for _, name := range run {
			if done[name] {
				continue
			}
			j := f.jobs[name]
			if j == nil {
				t.Fatalf("job %s is not in .gitlab-ci.yml", name)
			}
			if !slices.ContainsFunc(f.needs(j, run), func(n string) bool { return !done[n] }) {
				ready = append(ready, name)
			}
		}
		if len(ready) == 0 {
			t.Fatalf("the needs of jobs %v form a cycle or name jobs that do not run", run)
		}
		slices.SortFunc(ready, func(a, b string) int {
			if d := slices.Index(f.stages, f.jobs[a].Stage) - slices.Index(f.stages, f.jobs[b].Stage); d != 0 {
				return d
			}
			return strings.Compare(a, b)
		})
		out = append(out, ready[0])
		done[ready[0]] = true
	}
	return out
}

// k8sRunner runs jobs in pods of image on the real node, in namespace ns.
type k8sRunner struct {
	node  *testenv.RealNode
	cs    kubernetes.Interface
	cfg   *rest.Config
	ns    string
	image string
	// projectDir is where the sources go in the pod (CI_PROJECT_DIR).
	projectDir string
	// sources is a tar of the checkout, .git included.
	sources []byte
	// security is the build container's security context (nil: none, as
	// GitLab Runner's default).
	security *corev1.SecurityContext
	// masked are variables from a Secret; files are File-type variables:
	// name → content (the job gets the file's path).
	masked []string
	files  map[string]string
}

// jobRun is what a job left: its log, exit code, dotenv report (as read
// and as written) and artifacts files.
type jobRun struct {
	log       string
	exitCode  int
	dotenv    map[string]string
	report    []byte
	artifacts map[string][]byte
}

// pipeline runs jobs (in order) with vars (the job's variables given the
// job and the dotenv variables of its needs) and calls after with each
// result; it stops at the first job that fails.
func (k *k8sRunner) pipeline(t *testing.T, f *ciFile, jobs []string, vars func(*ciJob, map[string]string) map[string]string, after func(string, *jobRun)) map[string]*jobRun {
	t.Helper()
	runs := map[string]*jobRun{}
	for _, name := range f.order(t, jobs) {
		j := f.jobs[name]
		artifacts, dotenv := map[string][]byte{}, map[string]string{}
		for _, need := range f.needs(j, jobs) {
			maps.Copy(artifacts, runs[need].artifacts)
			maps.Copy(dotenv, runs[need].dotenv)
		}
		run := k.job(t, j, vars(j, dotenv), artifacts)
		runs[name] = run
		t.Logf("job %s: exit code %d\n%s", name, run.exitCode, run.log)
		if run.exitCode != 0 {
			t.Fatalf("job %s failed with exit code %d:\n%s", name, run.exitCode, run.log)
		}
		if after != nil {
			after(name, run)
		}
	}
	return runs
}

// ciVariables layers the YAML variables over base (predefined ones), each
// expanded with what is defined below it, then the dotenv and the project
// variables over them.
func ciVariables(base map[string]string, f *ciFile, j *ciJob, dotenv, project map[string]string) map[string]string {
	v := maps.Clone(base)
	for _, layer := range []map[string]string{f.variables, j.Variables} {
		expanded := map[string]string{}
		for k, val := range layer {
			expanded[k] = os.Expand(val, func(name string) string { return v[name] })
		}
		maps.Copy(v, expanded)
	}
	maps.Copy(v, dotenv)
	maps.Copy(v, project)
	return v
}

// job runs one job in a pod of its own, deleted afterwards.
func (k *k8sRunner) job(t *testing.T, j *ciJob, vars map[string]string, artifacts map[string][]byte) *jobRun {
	t.Helper()
	ctx := t.Context()
	name := fmt.Sprintf("%s-%s", podSlug(j.name), randomName())
	inputs := map[string][]byte{}
	if vars["GIT_STRATEGY"] != "none" {
		inputs["sources.tar"] = k.sources
	}
	if len(artifacts) > 0 {
		inputs["artifacts.tar"] = tarOf(t, artifacts)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, BinaryData: inputs}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: map[string]string{}}
	tmp := k.projectDir + ".tmp"
	var env []corev1.EnvVar
	var fileItems []corev1.KeyToPath
	for _, key := range slices.Sorted(maps.Keys(k.files)) {
		secret.StringData["file."+key] = k.files[key]
		fileItems = append(fileItems, corev1.KeyToPath{Key: "file." + key, Path: key})
		env = append(env, corev1.EnvVar{Name: key, Value: tmp + "/" + key})
	}
	for _, key := range slices.Sorted(maps.Keys(vars)) {
		switch {
		case k.files[key] != "":
		case slices.Contains(k.masked, key):
			secret.StringData["var."+key] = vars[key]
			env = append(env, corev1.EnvVar{Name: key, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: "var." + key,
			}}})
		default:
			env = append(env, corev1.EnvVar{Name: key, Value: vars[key]})
		}
	}
	if _, err := k.cs.CoreV1().ConfigMaps(k.ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.cs.CoreV1().Secrets(k.ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := k.podSpec(name, env, fileItems)
	k.node.Place(&pod.Spec)
	if _, err := k.cs.CoreV1().Pods(k.ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer k.deletePod(t, name)
	k.waitReady(t, name)

	var log lockedBuffer
	run := &jobRun{}
	err := kube.Exec(ctx, k.cfg, k.cs, k.ns, name, "build", []string{"sh", "-c", jobShell(j.Script)}, nil, &log, &log)
	var exit interface{ ExitStatus() int }
	switch {
	case errors.As(err, &exit):
		run.exitCode = exit.ExitStatus()
	case err != nil:
		t.Fatalf("job %s: running its script in pod %s: %v\n%s", j.name, name, err, log.String())
	}
	run.log = log.String()
	paths := slices.Clone(j.Artifacts.Paths)
	if j.Artifacts.Reports.Dotenv != "" {
		paths = append(paths, j.Artifacts.Reports.Dotenv)
	}
	files := k.collect(t, name, paths)
	run.artifacts = map[string][]byte{}
	for _, p := range j.Artifacts.Paths {
		if data, ok := files[p]; ok {
			run.artifacts[p] = data
		}
	}
	if report, ok := files[j.Artifacts.Reports.Dotenv]; ok && j.Artifacts.Reports.Dotenv != "" {
		v, err := godotenv.UnmarshalBytes(report)
		if err != nil {
			t.Fatalf("job %s: dotenv report %s: %v", j.name, j.Artifacts.Reports.Dotenv, err)
		}
		run.dotenv, run.report = v, report
	}
	return run
}

// podSpec is the job's pod: the image's shell waits (as the runner's build
// container does) until the test execs the script; the sources and
// artifacts are unpacked before it reports Ready.
func (k *k8sRunner) podSpec(name string, env []corev1.EnvVar, fileItems []corev1.KeyToPath) *corev1.Pod {
	no, grace, deadline := false, int64(0), int64(1800)
	setup := `set -e
mkdir -p "$CI_PROJECT_DIR"
cd "$CI_PROJECT_DIR"
[ ! -f /job/in/sources.tar ] || tar -xf /job/in/sources.tar
[ ! -f /job/in/artifacts.tar ] || tar -xf /job/in/artifacts.tar
touch /job/ready
exec sleep 1800`
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"skiff.dev/test-gitlab-job": "true"}},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: &grace,
			ActiveDeadlineSeconds:         &deadline,
			AutomountServiceAccountToken:  &no,
			EnableServiceLinks:            &no,
			Containers: []corev1.Container{{
				Name:            "build",
				Image:           k.image,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Command:         []string{"sh", "-c", setup},
				WorkingDir:      k.projectDir,
				Env:             env,
				SecurityContext: k.security,
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-f", "/job/ready"}}},
					PeriodSeconds: 1,
				},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "builds", MountPath: "/builds"},
					{Name: "job", MountPath: "/job"},
					{Name: "in", MountPath: "/job/in", ReadOnly: true},
				},
			}},
			Volumes: []corev1.Volume{
				{Name: "builds", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "job", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "in", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}}},
			},
		},
	}
	if len(fileItems) > 0 {
		// Only the File-type variables' keys: the masked ones stay out of it.
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "files", VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: name, Items: fileItems},
		}})
		c := &pod.Spec.Containers[0]
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "files", MountPath: k.projectDir + ".tmp", ReadOnly: true})
	}
	return pod
}

func (k *k8sRunner) waitReady(t *testing.T, name string) {
	t.Helper()
	var last *corev1.Pod
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := k.cs.CoreV1().Pods(k.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = p
		if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
			return false, fmt.Errorf("pod ended %s before the job ran", p.Status.Phase)
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		status := "no status"
		if last != nil {
			status = fmt.Sprintf("phase %s, %+v", last.Status.Phase, last.Status.ContainerStatuses)
		}
		t.Fatalf("job pod %s/%s did not become Ready: %v (%s)", k.ns, name, err, status)
	}
}

func (k *k8sRunner) deletePod(t *testing.T, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	zero := int64(0)
	if err := k.cs.CoreV1().Pods(k.ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Errorf("deleting job pod %s: %v", name, err)
	}
}

// collect reads the files at paths (relative to CI_PROJECT_DIR) that exist
// in the pod, as the runner's artifacts uploader does.
func (k *k8sRunner) collect(t *testing.T, pod string, paths []string) map[string][]byte {
	t.Helper()
	if len(paths) == 0 {
		return nil
	}
	const script = `cd "$CI_PROJECT_DIR" || exit 1
for f do
	shift
	[ ! -e "$f" ] || set -- "$@" "$f"
done
[ "$#" = 0 ] || exec tar -cf - "$@"`
	var out, errOut bytes.Buffer
	if err := kube.Exec(t.Context(), k.cfg, k.cs, k.ns, pod, "build", append([]string{"sh", "-c", script, "sh"}, paths...), nil, &out, &errOut); err != nil {
		t.Fatalf("reading artifacts %v from pod %s: %v (%s)", paths, pod, err, errOut.String())
	}
	files := map[string][]byte{}
	if out.Len() == 0 {
		return files // none of paths exists
	}
	tr := tar.NewReader(&out)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatalf("artifacts of pod %s: %v", pod, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Clean(h.Name)] = data
	}
}

// jobShell is the script as the runner's shell runs it: one shell, stop at
// the first failing line, each line shown before it runs.
func jobShell(script []string) string {
	var b strings.Builder
	b.WriteString("set -eo pipefail\ncd \"$CI_PROJECT_DIR\"\n")
	for _, line := range script {
		fmt.Fprintf(&b, "printf '%%s\\n' %s\n%s\n", singleQuote("$ "+line), line)
	}
	return b.String()
}

func singleQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// tarOf packs files (relative path → content).
func tarOf(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), ModTime: time.Unix(1700000000, 0)}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(files[name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// checkoutTar packs the checkout in dir as the runner's clone leaves it:
// the worktree with .git, without gitlab-ci-local's state, the files of
// over (relative path → content) in place of or besides dir's.
func checkoutTar(t *testing.T, dir string, over map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == ".gitlab-ci-local" {
			return filepath.SkipDir
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			h.Name += "/"
		}
		data, replaced := over[h.Name]
		if !replaced && fi.Mode().IsRegular() {
			if data, err = os.ReadFile(p); err != nil {
				return err
			}
		}
		delete(over, h.Name)
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil || !fi.Mode().IsRegular() {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	for _, name := range slices.Sorted(maps.Keys(over)) {
		if err == nil {
			err = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(over[name])), ModTime: time.Unix(1700000000, 0)})
		}
		if err == nil {
			_, err = tw.Write(over[name])
		}
	}
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		t.Fatalf("packing the checkout %s: %v", dir, err)
	}
	return buf.Bytes()
}

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

// gitlabSlug is GitLab's CI_COMMIT_REF_SLUG and CI_ENVIRONMENT_SLUG-like
// slug: lower case, runs of other characters as one "-", at most 63 bytes,
// no "-" at either end.
func gitlabSlug(s string) string {
	s = nonSlug.ReplaceAllString(strings.ToLower(s), "-")
	if len(s) > 63 {
		s = s[:63]
	}
	return strings.Trim(s, "-")
}

func podSlug(job string) string {
	s := gitlabSlug(job)
	return s[:min(len(s), 40)]
}

func randomName() string { return fmt.Sprintf("%06x", time.Now().UnixNano()&0xffffff) }

// lockedBuffer is the job log both output streams write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

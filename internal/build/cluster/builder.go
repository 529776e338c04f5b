package cluster

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	//lint:ignore SA1019 client-go v0.37's remotecommand still returns these errors
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/skiff-dev/skiff/internal/build"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/kubeclient"
	"github.com/skiff-dev/skiff/internal/oci"
)

// DefaultTimeout is one artifact's build timeout when build.cluster.timeout
// does not set one (Skaffold's default).
const DefaultTimeout = 20 * time.Minute

// WorkerCommand is what the client execs in the build pod: the hidden
// skiff command that runs Serve.
var WorkerCommand = []string{"skiff", "build-worker"}

// Options configure cluster builds.
type Options struct {
	// Details is build.cluster; nil means its defaults (skiff build
	// --cluster without build.cluster).
	Details *config.ClusterDetails
	// Image is skiff's image that the build pods run.
	Image string
	// Config and Client reach the cluster; Namespace is the build pods'
	// namespace when Details sets none (the kube context's).
	Config    *rest.Config
	Client    kubeclient.Interface
	Namespace string
	// Aliases maps a registry host:port of the image names to the address
	// the build pods dial for it (a registry the cluster reaches under
	// another address).
	Aliases map[string]string
	// Insecure lists registries reached over plain HTTP.
	Insecure []string
	// Push, CacheArtifacts, CacheRepo, Reproducible, SourceDateEpoch and
	// Compression mean what they mean for a local build (build.Options).
	Push            bool
	CacheArtifacts  bool
	CacheRepo       string
	Reproducible    bool
	SourceDateEpoch *time.Time
	Compression     oci.Compression
	// Place, when set, adjusts each build pod's spec (tests use it to put
	// the pods on a particular node).
	Place func(*corev1.PodSpec)
}

func (o *Options) details() *config.ClusterDetails {
	if o.Details == nil {
		return &config.ClusterDetails{}
	}
	return o.Details
}

func (o *Options) namespace() string {
	if ns := o.details().Namespace; ns != "" {
		return ns
	}
	if o.Namespace != "" {
		return o.Namespace
	}
	return "default"
}

// Builder builds Dockerfile artifacts in build pods; it is a build.Builder
// (build.Options.Dockerfiles). Close removes what it created for the run.
type Builder struct {
	opts    Options
	timeout time.Duration
	sem     chan struct{}

	secretOnce sync.Once
	secret     string
	secretErr  error
	ownSecret  bool
}

// New checks opts and returns a Builder.
func New(opts Options) (*Builder, error) {
	d := opts.details()
	if opts.Image == "" {
		return nil, errors.New("cluster builds need skiff's image (--cluster-image)")
	}
	if opts.Client == nil || opts.Config == nil {
		return nil, errors.New("cluster builds need a cluster")
	}
	b := &Builder{opts: opts, timeout: DefaultTimeout}
	if d.Timeout != "" {
		t, err := time.ParseDuration(d.Timeout)
		if err != nil || t <= 0 {
			return nil, fmt.Errorf("build.cluster.timeout: %q is not a duration such as 20m", d.Timeout)
		}
		b.timeout = t
	}
	if d.Concurrency > 0 {
		b.sem = make(chan struct{}, d.Concurrency)
	}
	if len(d.Tolerations)+len(d.Volumes) > 0 || d.Resources != nil {
		// Fail on a bad pod setting before any build starts.
		if _, err := podSpec(&b.opts, "check", "check", "", 1); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Build builds a in a pod and returns what the pod pushed.
func (b *Builder) Build(ctx context.Context, a *config.Artifact, ref name.Tag, deps map[string]string, emit func(build.Event)) (build.Built, error) {
	spec, ok := build.Spec(a)
	if !ok {
		return build.Built{}, fmt.Errorf("artifact %s has no Dockerfile to build", a.ImageName)
	}
	if len(spec.Secrets) > 0 {
		return build.Built{}, fmt.Errorf("artifact %s: build secrets (docker.secrets) are not sent to build pods; build it without --cluster", a.ImageName)
	}
	for alias, r := range deps {
		spec.BuildArgs[alias] = r
	}
	if b.sem != nil {
		select {
		case b.sem <- struct{}{}:
		case <-ctx.Done():
			return build.Built{}, ctx.Err()
		}
		defer func() { <-b.sem }()
	}
	secret, err := b.dockerSecret(ctx)
	if err != nil {
		return build.Built{}, err
	}
	return b.run(ctx, b.job(spec, ref), spec, a.ImageName, secret, emit)
}

func (b *Builder) job(spec build.DockerSpec, ref name.Tag) Job {
	o := b.opts
	j := Job{
		Ref: ref.String(), Target: spec.Target, BuildArgs: spec.BuildArgs, Network: spec.Network, NoCache: spec.NoCache,
		CacheRepo: o.CacheRepo, CacheFrom: spec.CacheFrom, Push: o.Push, Cache: o.CacheArtifacts,
		Reproducible: o.Reproducible || spec.Reproducible, Compression: string(o.Compression), Insecure: o.Insecure, Aliases: o.Aliases,
	}
	if j.CacheRepo == "" {
		j.CacheRepo = spec.CacheRepo
	}
	if o.SourceDateEpoch != nil {
		s := o.SourceDateEpoch.Unix()
		j.Epoch = &s
	}
	for k, v := range spec.Labels {
		if v != nil {
			if j.Labels == nil {
				j.Labels = map[string]string{}
			}
			j.Labels[k] = *v
		}
	}
	return j
}

// run creates the pod, streams the job into it, relays its progress and
// deletes it, whatever happened.
func (b *Builder) run(ctx context.Context, job Job, spec build.DockerSpec, artifact, secret string, emit func(build.Event)) (build.Built, error) {
	ns := b.opts.namespace()
	deadline := int64(b.timeout/time.Second) + 1
	pod, err := podSpec(&b.opts, podName(artifact), artifact, secret, deadline)
	if err != nil {
		return build.Built{}, err
	}
	pods := b.opts.Client.CoreV1().Pods(ns)
	created, err := pods.Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return build.Built{}, fmt.Errorf("creating the build pod in namespace %s: %w", ns, err)
	}
	where := ns + "/" + created.Name
	defer b.deletePod(ns, created.Name)
	bctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	timedOut := func(err error) error {
		if ctx.Err() == nil && errors.Is(bctx.Err(), context.DeadlineExceeded) {
			return &TimeoutError{Pod: where, Timeout: b.timeout}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("build pod %s: interrupted; the pod is deleted: %w", where, ctx.Err())
		}
		return err
	}
	node, err := waitRunning(bctx, pods, created.Name)
	if err != nil {
		return build.Built{}, timedOut(fmt.Errorf("build pod %s: %w", where, err))
	}
	emit(build.Event{Kind: build.ArtifactOutput, Tag: job.Ref, Text: fmt.Sprintf("building in pod %s on node %s", where, node)})
	res, err := b.exec(bctx, ns, created.Name, job, spec, emit)
	if err != nil {
		return build.Built{}, timedOut(err)
	}
	return res, nil
}

// TimeoutError is a cluster build that did not finish within
// build.cluster.timeout; its pod was deleted.
type TimeoutError struct {
	Pod     string
	Timeout time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("build pod %s did not finish within %s (build.cluster.timeout); the pod is deleted", e.Pod, e.Timeout)
}

func (b *Builder) deletePod(ns, pod string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	zero := int64(0)
	_ = b.opts.Client.CoreV1().Pods(ns).Delete(ctx, pod, metav1.DeleteOptions{GracePeriodSeconds: &zero})
}

// exec runs the worker in the pod with the job and context on its stdin.
func (b *Builder) exec(ctx context.Context, ns, pod string, job Job, spec build.DockerSpec, emit func(build.Event)) (build.Built, error) {
	where := ns + "/" + pod
	req := b.opts.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: containerName, Command: WorkerCommand, Stdin: true, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	spdy, err := remotecommand.NewSPDYExecutor(b.opts.Config, "POST", req.URL())
	if err != nil {
		return build.Built{}, err
	}
	ws, err := remotecommand.NewWebSocketExecutor(b.opts.Config, "GET", req.URL().String())
	if err != nil {
		return build.Built{}, err
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return build.Built{}, err
	}
	inR, inW := io.Pipe()
	var upErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, upErr = writeStream(ctx, inW, job, spec.ContextDir, spec.Dockerfile)
		inW.CloseWithError(upErr)
	}()
	outR, outW := io.Pipe()
	rd := &reader{emit: emit, ref: job.Ref}
	wg.Add(1)
	go func() {
		defer wg.Done()
		rd.read(outR)
	}()
	stderr := &tail{n: 20}
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: inR, Stdout: outW, Stderr: stderr})
	outW.Close()
	inR.CloseWithError(io.ErrClosedPipe)
	wg.Wait()
	switch {
	case rd.done != nil:
		return build.Built{Ref: rd.done.Ref, Pushed: rd.done.Pushed, Steps: rd.done.Steps, Cached: rd.done.Cached}, nil
	case rd.failed != nil:
		return build.Built{}, rd.failed.err(where, spec.Dockerfile)
	case upErr != nil && !errors.Is(upErr, io.ErrClosedPipe):
		return build.Built{}, fmt.Errorf("sending the build context to pod %s: %w", where, upErr)
	case err != nil:
		return build.Built{}, &PodError{Pod: where, Message: fmt.Sprintf("the worker (%s) ended without a result: %v%s", strings.Join(WorkerCommand, " "), err, stderr.text())}
	}
	return build.Built{}, &PodError{Pod: where, Message: "the worker ended without a result" + stderr.text()}
}

// reader relays the worker's JSON lines as build events.
type reader struct {
	emit   func(build.Event)
	ref    string
	done   *doneMessage
	failed *errorMessage
}

func (r *reader) read(in io.Reader) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		var m message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			r.emit(build.Event{Kind: build.ArtifactOutput, Tag: r.ref, Text: sc.Text()})
			continue
		}
		switch {
		case m.Step != nil:
			r.emit(build.Event{Kind: build.ArtifactStep, Tag: r.ref, Step: m.Step})
		case m.Warning != "":
			r.emit(build.Event{Kind: build.ArtifactWarning, Tag: r.ref, Text: m.Warning})
		case m.Done != nil:
			r.done = m.Done
		case m.Error != nil:
			r.failed = m.Error
		}
	}
	_, _ = io.Copy(io.Discard, in)
}

// tail keeps the last n lines written to it.
type tail struct {
	mu    sync.Mutex
	n     int
	lines []string
	part  string
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.part + string(p)
	parts := strings.Split(s, "\n")
	t.part = parts[len(parts)-1]
	t.lines = append(t.lines, parts[:len(parts)-1]...)
	if len(t.lines) > t.n {
		t.lines = t.lines[len(t.lines)-t.n:]
	}
	return len(p), nil
}

func (t *tail) text() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := append(append([]string{}, t.lines...), t.part)
	s := strings.TrimSpace(strings.Join(lines, "\n"))
	if s == "" {
		return ""
	}
	return ": " + s
}

func podName(artifact string) string {
	base := strings.ToLower(artifact)
	if i := strings.LastIndex(base, "/"); i >= 0 {
		base = base[i+1:]
	}
	var sb strings.Builder
	for _, c := range base {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			sb.WriteRune(c)
		} else if sb.Len() > 0 && !strings.HasSuffix(sb.String(), "-") {
			sb.WriteByte('-')
		}
	}
	n := strings.Trim(sb.String(), "-")
	if len(n) > 30 {
		n = strings.Trim(n[:30], "-")
	}
	if n == "" {
		n = "image"
	}
	return "skiff-build-" + n + "-" + randomHex(4)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails since Go 1.24
	return hex.EncodeToString(b)
}

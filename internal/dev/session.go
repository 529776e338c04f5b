package dev

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/manifest"
)

// session is the state of one Run.
type session struct {
	r      *Runner
	p      *config.Project
	g      *Graph
	emitMu sync.Mutex

	builds      map[string]artifact.Build
	needBuild   map[string]bool
	needDeploy  bool
	pendingSync []SyncPlan
	// stale are artifacts whose running containers got synced files their
	// image lacks.
	stale    map[string]bool
	objs     []manifest.Object
	warnings string

	raw         chan rawEvent
	batches     chan []Change
	manual      <-chan struct{}
	watchCancel context.CancelFunc
	watchDone   chan struct{}
	rootsKey    string
	watching    string
	bg          sync.WaitGroup

	clusterCtx    context.Context
	clusterCancel context.CancelFunc
	pods          *Pods
	logs          *logTailer
	fwd           *forwards
	exec          *execer
}

func newSession(ctx context.Context, r *Runner, manual <-chan struct{}) *session {
	s := &session{
		r: r, p: r.Project, builds: map[string]artifact.Build{}, needBuild: map[string]bool{}, stale: map[string]bool{},
		raw: make(chan rawEvent, 256), batches: make(chan []Change), manual: manual,
	}
	s.g = NewGraph(ctx, s.p)
	s.reportWarnings()
	o := r.Options
	s.clusterCtx, s.clusterCancel = context.WithCancel(ctx)
	d := newDebouncer(o.Quiet, o.MaxDelay)
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		d.run(s.clusterCtx, s.raw, s.batches)
	}()
	if c := r.Cluster; c != nil {
		s.pods = NewPods(c.Client)
		s.exec = &execer{config: c.Config, client: c.Client}
		s.fwd = newForwards(c.Config, c.Client, s.emit)
		if o.Tail {
			s.logs = newLogTailer(s.clusterCtx, c.Client, s.emit)
			s.pods.OnChange(s.logs.podChanged)
		}
	}
	return s
}

func (s *session) emit(e Event) {
	if s.r.Events == nil {
		return
	}
	s.emitMu.Lock()
	defer s.emitMu.Unlock()
	s.r.Events(e)
}

func (s *session) reportWarnings() {
	w := strings.Join(s.g.Warnings, "\n")
	if w != "" && w != s.warnings {
		for _, m := range s.g.Warnings {
			s.emit(Event{Kind: Warning, Message: m})
		}
	}
	s.warnings = w
}

// startWatching starts the watcher of the current graph's roots.
func (s *session) startWatching(ctx context.Context) error {
	roots := s.g.Roots()
	s.rootsKey = rootsKey(roots)
	o := s.r.Options
	wctx, cancel := context.WithCancel(ctx)
	var run func(context.Context, chan<- rawEvent) error
	switch o.Trigger {
	case TriggerPolling:
		w := newPollWatcher(roots, o.PollInterval, nil)
		run, s.watching = w.run, fmt.Sprintf("polling every %s", o.PollInterval)
	case TriggerManual:
		w := newPollWatcher(roots, 0, s.manual)
		run, s.watching = w.run, "press Enter to look for changes"
	default:
		w, err := newNotifyWatcher(roots)
		if err != nil {
			cancel()
			return err
		}
		run, s.watching = w.run, fmt.Sprintf("%d directories", w.watches())
	}
	s.watchCancel, s.watchDone = cancel, make(chan struct{})
	done := s.watchDone
	go func() {
		defer close(done)
		if err := run(wctx, s.raw); err != nil {
			s.emit(Event{Kind: Warning, Message: err.Error()})
		}
	}()
	return nil
}

func (s *session) stopWatching() {
	if s.watchCancel != nil {
		s.watchCancel()
		<-s.watchDone
		s.watchCancel = nil
	}
}

func rootsKey(roots []WatchRoot) string {
	keys := make([]string, 0, len(roots))
	for _, r := range roots {
		keys = append(keys, fmt.Sprintf("%s %v", r.Dir, r.Recursive))
	}
	sort.Strings(keys)
	return strings.Join(dedupe(keys), "\n")
}

// refreshGraph recomputes the graph after files changed (a Dockerfile's
// COPY lines, a .dockerignore, a kustomization's resources decide what is
// watched) and moves the watches when needed.
func (s *session) refreshGraph(ctx context.Context) {
	s.g = NewGraph(ctx, s.p)
	s.reportWarnings()
	if rootsKey(s.g.Roots()) == s.rootsKey {
		return
	}
	s.stopWatching()
	if err := s.startWatching(ctx); err != nil {
		s.emit(Event{Kind: Warning, Message: fmt.Sprintf("%v; polling instead", err)})
		s.r.Options.Trigger = TriggerPolling
		_ = s.startWatching(ctx)
	}
}

// reload loads the changed configuration: artifacts whose definition
// changed are rebuilt (with what requires them), and everything is
// redeployed. A configuration that does not load keeps the old one.
func (s *session) reload(ctx context.Context, plan *Plan) {
	if s.r.Load == nil {
		return
	}
	p, err := s.r.Load()
	if err != nil {
		s.emit(Event{Kind: Warning, Message: fmt.Sprintf("the configuration did not reload, keeping the previous one: %v", err)})
		plan.Reload = false
		return
	}
	before := map[string]string{}
	for _, a := range s.p.Artifacts() {
		before[a.ImageName] = definition(a)
	}
	s.p = p
	s.refreshGraph(ctx)
	now := map[string]bool{}
	for _, a := range p.Artifacts() {
		now[a.ImageName] = true
		if before[a.ImageName] != definition(a) {
			plan.Rebuild = append(plan.Rebuild, s.g.dependentsOf(a.ImageName)...)
		}
	}
	for img := range s.builds {
		if !now[img] {
			delete(s.builds, img)
		}
	}
	for img := range s.needBuild {
		if !now[img] {
			delete(s.needBuild, img)
		}
	}
	plan.Redeploy = true
	s.emit(Event{Kind: Phase, Message: "configuration reloaded"})
}

// definition is an artifact's configuration as text, to tell what a
// reload changed.
func definition(a *config.Artifact) string {
	b, err := yaml.Marshal(a)
	if err != nil {
		return fmt.Sprintf("%p", a)
	}
	return string(b)
}

// dependentsOf is image and every image that requires it, transitively.
func (g *Graph) dependentsOf(image string) []string {
	seen := map[string]bool{}
	var out []string
	var walk func(string)
	walk = func(img string) {
		if seen[img] {
			return
		}
		seen[img] = true
		out = append(out, img)
		if n := g.Node(img); n != nil {
			for _, d := range n.dependents {
				walk(d)
			}
		}
	}
	walk(image)
	return out
}

func (s *session) watchPods(ctx context.Context, objs []manifest.Object) {
	if s.pods != nil {
		s.pods.Select(s.clusterCtx, objs, s.r.Options.Namespace)
	}
}

func (s *session) forward(ctx context.Context) {
	if s.fwd != nil {
		s.fwd.set(s.clusterCtx, s.forwardSpecs())
	}
}

// forwardSpecs are the configuration's portForward entries and, with
// ForwardServices, every port of every deployed Service.
func (s *session) forwardSpecs() []PortForward {
	o := s.r.Options
	var out []PortForward
	seen := map[string]bool{}
	add := func(f PortForward) {
		if f.Namespace == "" {
			f.Namespace = o.Namespace
		}
		k := strings.ToLower(f.Kind) + "/" + f.Namespace + "/" + f.Name + "/" + f.Port.String()
		if !seen[k] {
			seen[k] = true
			out = append(out, f)
		}
	}
	if o.ForwardUser {
		for _, f := range ConfigForwards(s.p, o.Namespace) {
			add(f)
		}
	}
	if o.ForwardServices {
		for _, obj := range s.objs {
			if obj.GetKind() != "Service" || obj.GroupVersionKind().Group != "" {
				continue
			}
			ports, _, _ := unstructuredPorts(obj)
			for _, port := range ports {
				add(PortForward{Kind: "service", Name: obj.GetName(), Namespace: obj.GetNamespace(), Port: intstr.FromInt(port)})
			}
		}
	}
	return out
}

func (s *session) stop() {
	s.stopWatching()
	s.clusterCancel()
	if s.fwd != nil {
		s.fwd.stop()
	}
	if s.pods != nil {
		s.pods.Wait()
	}
	if s.logs != nil {
		s.logs.wait()
	}
	s.bg.Wait()
}

func (s *session) allImages() []string {
	var out []string
	for _, a := range s.p.Artifacts() {
		out = append(out, a.ImageName)
	}
	return out
}

// buildList lists the current builds in configuration order.
func (s *session) buildList() []artifact.Build {
	var out []artifact.Build
	for _, a := range s.p.Artifacts() {
		if b, ok := s.builds[a.ImageName]; ok {
			out = append(out, b)
		}
	}
	return out
}

func (s *session) relative(paths []string) []string {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		if r, err := filepath.Rel(s.p.WorkDir, p); err == nil && !strings.HasPrefix(r, "..") {
			p = r
		}
		out = append(out, p)
	}
	return out
}

func (s *session) watchingMessage() string {
	return s.watching
}

// unstructuredPorts reads a Service's spec.ports[].port.
func unstructuredPorts(obj manifest.Object) ([]int, bool, error) {
	list, ok, err := unstructured.NestedSlice(obj.Object, "spec", "ports")
	if !ok || err != nil {
		return nil, ok, err
	}
	var out []int
	for _, p := range list {
		m, _ := p.(map[string]any)
		if n, ok, _ := unstructured.NestedInt64(m, "port"); ok {
			out = append(out, int(n))
		}
	}
	return out, true, nil
}

package dev

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/manifest"
)

// Builder builds artifacts of p and returns their builds (references with
// digests). built maps image names to the session's current builds: what
// artifacts require is taken from there; what it lacks is built too, and
// returned as well.
type Builder interface {
	Build(ctx context.Context, p *config.Project, artifacts []*config.Artifact, built map[string]string) ([]artifact.Build, error)
}

// Renderer renders p's manifests with the images of builds.
type Renderer interface {
	Render(ctx context.Context, p *config.Project, builds []artifact.Build) ([]manifest.Object, error)
}

// Deployer applies rendered objects and, at the end, deletes them.
type Deployer interface {
	Deploy(ctx context.Context, objs []manifest.Object) ([]apply.Change, error)
	Cleanup(ctx context.Context) ([]apply.Change, error)
}

// Options control a dev session; the zero value is not useful, start from
// DefaultOptions.
type Options struct {
	// Namespace is where objects without one are deployed.
	Namespace string
	Trigger   Trigger
	// PollInterval is --watch-poll-interval, for TriggerPolling.
	PollInterval time.Duration
	// Quiet and MaxDelay batch changes (DefaultQuiet, DefaultMaxDelay).
	Quiet, MaxDelay time.Duration
	// AutoBuild, AutoSync and AutoDeploy act on changes right away; when
	// false, that work waits for Enter.
	AutoBuild, AutoSync, AutoDeploy bool
	// Cleanup deletes what the session deployed when it ends.
	Cleanup bool
	// Tail streams the logs of the deployed pods.
	Tail bool
	// ForwardUser forwards the configuration's portForward entries;
	// ForwardServices every deployed Service's ports.
	ForwardUser, ForwardServices bool
}

// DefaultOptions are Skaffold's defaults for dev.
func DefaultOptions() Options {
	return Options{
		Trigger: TriggerNotify, PollInterval: time.Second, Quiet: DefaultQuiet, MaxDelay: DefaultMaxDelay,
		AutoBuild: true, AutoSync: true, AutoDeploy: true, Cleanup: true, Tail: true, ForwardUser: true,
	}
}

// Runner runs a dev session. Builder, Renderer and Deployer are required;
// without Cluster there is no sync, log streaming or port-forwarding.
type Runner struct {
	Options  Options
	Project  *config.Project
	Load     func() (*config.Project, error)
	Builder  Builder
	Renderer Renderer
	Deployer Deployer
	Cluster  *Cluster
	// Input is read line by line for Enter (--trigger=manual, or work
	// waiting because an --auto-* flag is false).
	Input io.Reader
	// Events receives what happens; it is called from several goroutines,
	// one call at a time.
	Events func(Event)
	// CleanupContext is the context of the cleanup after the session's
	// context ended (default: 5 minutes, whatever the session's context).
	CleanupContext func() (context.Context, context.CancelFunc)
	// SyncHooks, when set, runs an artifact's sync hooks before (before is
	// true) and after its files are synced into the containers running
	// ref. A failing before hook stops that sync.
	SyncHooks func(ctx context.Context, before bool, sp SyncPlan, ref string) error
}

// Run builds and deploys everything once, then acts on changes until ctx
// ends; then it cleans up if asked. A failed build, sync or deploy is
// reported and the loop waits for the next change: only a problem setting
// up the watches ends it early.
func (r *Runner) Run(ctx context.Context) error {
	enter, manual := r.readEnter()
	s := newSession(ctx, r, manual)
	if err := s.startWatching(ctx); err != nil {
		s.stop()
		return err
	}
	s.act(ctx, &Plan{Rebuild: s.allImages(), Redeploy: true}, true)
	s.emit(Event{Kind: Watching, Message: s.watchingMessage()})
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case batch := <-s.batches:
			plan := s.g.Decide(batch)
			if plan.Empty() {
				continue
			}
			s.emit(Event{Kind: ChangesSeen, Files: s.relative(plan.Changed), Plan: &plan})
			s.act(ctx, &plan, r.Options.Trigger == TriggerManual)
			s.emit(Event{Kind: Watching, Message: s.watchingMessage()})
		case <-enter:
			if s.hasPending() {
				s.act(ctx, &Plan{}, true)
				s.emit(Event{Kind: Watching, Message: s.watchingMessage()})
			}
		}
	}
	s.stop()
	if !r.Options.Cleanup {
		s.emit(Event{Kind: Phase, Message: fmt.Sprintf("leaving what was deployed in namespace %s (--cleanup=false)", r.Options.Namespace)})
		return nil
	}
	cctx, cancel := r.cleanupContext()
	defer cancel()
	s.emit(Event{Kind: Phase, Message: "cleaning up"})
	start := time.Now()
	changes, err := r.Deployer.Cleanup(cctx)
	s.emit(Event{Kind: CleanedUp, Changes: changes, Err: err, Duration: time.Since(start)})
	if err != nil {
		return fmt.Errorf("cleaning up: %w", err)
	}
	return nil
}

func (r *Runner) cleanupContext() (context.Context, context.CancelFunc) {
	if r.CleanupContext != nil {
		return r.CleanupContext()
	}
	return context.WithTimeout(context.Background(), 5*time.Minute)
}

// readEnter turns lines of Input into receives: on enter when work waits
// for it, on manual for --trigger=manual (the watcher scans then); nil
// channels are never ready. The reading goroutine blocks in Read and ends
// with the process or at EOF, like any reader of a terminal.
func (r *Runner) readEnter() (enter, manual <-chan struct{}) {
	o := r.Options
	isManual := o.Trigger == TriggerManual
	if r.Input == nil || (!isManual && o.AutoBuild && o.AutoSync && o.AutoDeploy) {
		return nil, nil
	}
	ch := make(chan struct{}, 1)
	go func() {
		sc := bufio.NewScanner(r.Input)
		for sc.Scan() {
			select {
			case ch <- struct{}{}:
			default: // one press is pending already
			}
		}
	}()
	if isManual {
		return nil, ch
	}
	return ch, nil
}

// act carries out a plan, and what earlier plans left pending; force runs
// work that waits for Enter.
func (s *session) act(ctx context.Context, plan *Plan, force bool) {
	o := s.r.Options
	if plan.Reload {
		s.reload(ctx, plan)
	}
	for _, img := range plan.Rebuild {
		s.needBuild[img] = true
	}
	if plan.Redeploy {
		s.needDeploy = true
	}
	s.pendingSync = mergeSync(s.pendingSync, plan.Sync, s.needBuild)
	if s.g.definesInputs(plan.Changed) {
		s.refreshGraph(ctx)
	}
	if len(s.pendingSync) > 0 && (o.AutoSync || force) {
		for _, sp := range s.pendingSync {
			s.sync(ctx, sp)
		}
		s.pendingSync = nil
	}
	if plan.Manifests || plan.Reload {
		// Changed manifests may restart pods from their image: files
		// synced into the old containers must be in it. (Rebuilding
		// another artifact changes only its own pods.)
		for img := range s.stale {
			s.needBuild[img] = true
		}
	}
	if len(s.needBuild) > 0 && (o.AutoBuild || force) {
		if !s.build(ctx) {
			return
		}
	}
	if s.needDeploy && len(s.needBuild) == 0 && (o.AutoDeploy || force) {
		s.deploy(ctx)
	}
	if msg := s.pendingMessage(); msg != "" && ctx.Err() == nil {
		s.emit(Event{Kind: Pending, Message: msg})
	}
}

func (s *session) hasPending() bool {
	return len(s.pendingSync) > 0 || len(s.needBuild) > 0 || s.needDeploy
}

func (s *session) pendingMessage() string {
	switch {
	case len(s.pendingSync) > 0 && !s.r.Options.AutoSync:
		return "files to sync; press Enter to sync"
	case len(s.needBuild) > 0 && !s.r.Options.AutoBuild:
		return "artifacts to build; press Enter to build"
	case s.needDeploy && len(s.needBuild) == 0 && !s.r.Options.AutoDeploy:
		return "changes to deploy; press Enter to deploy"
	}
	return "" // a failure was reported: the next change retries
}

// build builds what needs building; false when it failed.
func (s *session) build(ctx context.Context) bool {
	var arts []*config.Artifact
	for _, a := range s.p.Artifacts() {
		if s.needBuild[a.ImageName] {
			arts = append(arts, a)
		}
	}
	if len(arts) == 0 {
		s.needBuild = map[string]bool{}
		return true
	}
	start := time.Now()
	builds, err := s.r.Builder.Build(ctx, s.p, arts, s.currentBuilds())
	if err != nil {
		if ctx.Err() == nil {
			s.emit(Event{Kind: BuildFailed, Err: err, Duration: time.Since(start)})
		}
		return false
	}
	for _, b := range builds {
		s.builds[b.ImageName] = b
		delete(s.needBuild, b.ImageName)
		delete(s.stale, b.ImageName)
	}
	s.needDeploy = true
	s.emit(Event{Kind: Built, Builds: builds, Duration: time.Since(start)})
	return true
}

// currentBuilds are the references of the builds that are up to date:
// not about to be rebuilt, and not behind files synced into their
// containers (an image built on such a base would miss them).
func (s *session) currentBuilds() map[string]string {
	out := map[string]string{}
	for img, b := range s.builds {
		if !s.needBuild[img] && !s.stale[img] {
			out[img] = b.Tag
		}
	}
	return out
}

// deploy renders with the current builds and applies.
func (s *session) deploy(ctx context.Context) {
	start := time.Now()
	objs, err := s.r.Renderer.Render(ctx, s.p, s.buildList())
	if err != nil {
		if ctx.Err() == nil {
			s.emit(Event{Kind: DeployFailed, Err: fmt.Errorf("rendering: %w", err)})
		}
		return
	}
	// Logs and forwards follow the objects even when the status check
	// fails: a crashing pod's log is what the developer needs then.
	s.objs = objs
	s.watchPods(ctx, objs)
	changes, err := s.r.Deployer.Deploy(ctx, objs)
	if err != nil {
		if ctx.Err() == nil {
			s.emit(Event{Kind: DeployFailed, Err: err, Changes: changes, Duration: time.Since(start)})
			if len(changes) > 0 {
				s.forward(ctx)
			}
		}
		return
	}
	s.needDeploy = false
	s.emit(Event{Kind: Deployed, Changes: changes, Duration: time.Since(start)})
	s.forward(ctx)
}

// sync copies a plan's files into the artifact's running containers; when
// that is not possible the artifact is rebuilt instead.
func (s *session) sync(ctx context.Context, sp SyncPlan) {
	rebuild := func(err error) {
		if ctx.Err() == nil {
			s.emit(Event{Kind: SyncFailed, Err: fmt.Errorf("%s: %w; rebuilding instead", sp.Image, err)})
		}
		s.needBuild[sp.Image] = true
		s.needDeploy = true
	}
	b, ok := s.builds[sp.Image]
	if !ok || s.exec == nil {
		rebuild(errors.New("no running container to sync to"))
		return
	}
	containers := containersRunning(s.pods.Selected(), b.Tag)
	if len(containers) == 0 {
		rebuild(fmt.Errorf("no running container of %s to sync to", b.Tag))
		return
	}
	start := time.Now()
	if s.r.SyncHooks != nil {
		if err := s.r.SyncHooks(ctx, true, sp, b.Tag); err != nil {
			s.emit(Event{Kind: SyncFailed, Err: fmt.Errorf("%s: %w", sp.Image, err)})
			return
		}
	}
	if err := s.exec.syncTo(ctx, sp, containers); err != nil {
		rebuild(err)
		return
	}
	if s.r.SyncHooks != nil {
		if err := s.r.SyncHooks(ctx, false, sp, b.Tag); err != nil {
			s.emit(Event{Kind: SyncFailed, Err: fmt.Errorf("%s: %w", sp.Image, err)})
		}
	}
	s.stale[sp.Image] = true
	res := &SyncResult{Image: sp.Image, Copied: len(sp.Copy), Deleted: len(sp.Delete)}
	for _, c := range containers {
		res.Containers = append(res.Containers, c.String())
	}
	s.emit(Event{Kind: Synced, Sync: res, Duration: time.Since(start)})
}

// mergeSync adds new sync plans to pending ones, dropping artifacts that
// are rebuilt anyway.
func mergeSync(pending, next []SyncPlan, rebuilt map[string]bool) []SyncPlan {
	var out []SyncPlan
	for _, sp := range append(pending, next...) {
		if rebuilt[sp.Image] {
			continue
		}
		merged := false
		for i := range out {
			if out[i].Image == sp.Image {
				out[i].Copy = append(out[i].Copy, sp.Copy...)
				out[i].Delete = append(out[i].Delete, sp.Delete...)
				out[i].Removed = append(out[i].Removed, sp.Removed...)
				merged = true
			}
		}
		if !merged {
			out = append(out, sp)
		}
	}
	return out
}

package dockerbuild

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"golang.org/x/sync/errgroup"

	"github.com/skiff-dev/skiff/internal/build/cache"
	"github.com/skiff-dev/skiff/internal/build/dockerfile"
	"github.com/skiff-dev/skiff/internal/build/snapshot"
	"github.com/skiff-dev/skiff/internal/oci"
)

// builder holds the state of one Build call.
type builder struct {
	opts   Options
	iso    isolator
	plan   *dockerfile.Plan
	ctxSrc *source
	stages []*stageState
	// failStages cancels the stages' context (see runStages).
	failStages context.CancelCauseFunc
	// done[i] is closed when stage i is built (b.stages[i] set) or the
	// build gave up; stages build concurrently once what they read is done.
	done []chan struct{}

	eventMu   sync.Mutex
	stackOnce sync.Once
	puts      errgroup.Group

	mu      sync.Mutex             // guards the fields below, shared by the stages
	images  map[string]*stageState // COPY --from=<image>
	steps   int
	cached  int
	snaps   []snapshot.Snapshotter
	cleanup []string
	// srcLocks: see sourceLock.
	srcLocks map[*stageState]*sync.Mutex
	// cacheLocks: see cacheLock.
	cacheLocks map[string]*sync.Mutex

	pullMu     sync.Mutex
	pulls      map[string]*pull
	prefetched bool
	background errgroup.Group
	stopBg     context.CancelFunc
	// startPrefetch begins background extraction for the stages after the
	// given one (see prefetch); it is bound to a context that close cancels.
	startPrefetch func(from int)
}

// Build builds the Dockerfile in opts and returns the target stage's image.
// Layers are kept in opts.Blobs; nothing is pushed.
func Build(ctx context.Context, opts Options) (*Result, error) {
	if opts.Compression == "" {
		opts.Compression = oci.Gzip
	}
	if opts.Store == nil || opts.Blobs == nil || opts.Registry == nil {
		return nil, errors.New("dockerbuild: Store, Blobs and Registry are required")
	}
	content, err := os.ReadFile(opts.Dockerfile)
	if err != nil {
		return nil, fmt.Errorf("reading Dockerfile: %w", err)
	}
	plan, err := dockerfile.Parse(opts.Dockerfile, content, dockerfile.Options{Target: opts.Target, BuildArgs: opts.BuildArgs})
	if err != nil {
		return nil, err
	}
	for id := range opts.Secrets {
		if err := validSecretID(id); err != nil {
			return nil, fmt.Errorf("--secret: %w", err)
		}
	}
	iso, err := selectIsolation(opts, nil)
	if err != nil {
		return nil, err
	}
	if r, ok := iso.(relocator); ok {
		if res, moved, err := r.relocate(ctx, opts); moved {
			return res, err
		}
	}
	if opts.Events != nil {
		opts.Events(Event{Kind: IsolationSelected, Text: string(iso.mode())})
		if n, ok := iso.(noter); ok {
			opts.Events(Event{Kind: Warning, Text: n.note()})
		}
	}
	patterns, _, err := dockerfile.IgnorePatterns(opts.ContextDir, opts.Dockerfile)
	if err != nil {
		return nil, err
	}
	ctxSrc, err := newContextSource(opts.ContextDir, patterns)
	if err != nil {
		return nil, err
	}
	b := &builder{
		opts: opts, iso: iso, plan: plan, ctxSrc: ctxSrc,
		stages: make([]*stageState, len(plan.Stages)), images: map[string]*stageState{}, pulls: map[string]*pull{},
		srcLocks: map[*stageState]*sync.Mutex{}, cacheLocks: map[string]*sync.Mutex{},
	}
	b.puts.SetLimit(4) // registry cache uploads run alongside the build, a few at a time
	bgCtx, stopBg := context.WithCancel(ctx)
	b.stopBg = stopBg
	b.startPrefetch = func(from int) { b.prefetch(bgCtx, from) }
	defer b.close()
	if len(plan.UnusedBuildArgs) > 0 {
		b.emit(Event{Kind: Warning, Text: fmt.Sprintf("build args %v were not consumed by any ARG", plan.UnusedBuildArgs)})
	}
	if err := b.runStages(ctx); err != nil {
		_ = b.puts.Wait()
		return nil, err
	}
	if err := b.puts.Wait(); err != nil {
		b.emit(Event{Kind: Warning, Text: fmt.Sprintf("storing build cache: %v", err)})
	}
	target := b.stages[plan.Target]
	img, err := b.assemble(target)
	if err != nil {
		return nil, err
	}
	return &Result{Image: img, Steps: b.steps, Cached: b.cached, Layers: target.layers[target.baseLayers:]}, nil
}

// runStages builds the stages the target needs, each as soon as the stages
// it starts from and reads files from are built, at most Options.Jobs at a
// time (one after another in Dockerfile order with Jobs 1). The first
// failure cancels the others and is the build's error. A stage's result
// depends only on its inputs, so the image is the same in any order.
func (b *builder) runStages(ctx context.Context) error {
	jobs := b.opts.Jobs
	if jobs <= 0 {
		jobs = runtime.NumCPU()
	}
	b.done = make([]chan struct{}, len(b.plan.Stages))
	for i := range b.done {
		b.done[i] = make(chan struct{})
	}
	if jobs == 1 {
		for _, def := range b.plan.Stages {
			if def.Needed {
				if err := b.buildStage(ctx, def); err != nil {
					return err
				}
			}
		}
		return nil
	}
	slots := make(chan struct{}, jobs)
	// The stages' context is cancelled when one fails, and only then: the
	// layers they looked up read their blobs with it after the build
	// returns (when the image is pushed).
	// (It is released with ctx.)
	var sctx context.Context
	sctx, b.failStages = context.WithCancelCause(ctx)
	var g errgroup.Group
	for _, def := range b.plan.Stages {
		if !def.Needed {
			continue
		}
		g.Go(func() error {
			err := b.scheduleStage(sctx, def, slots)
			if err != nil {
				b.failStages(err)
			}
			return err
		})
	}
	return g.Wait()
}

// scheduleStage builds a stage once the stages it needs are built and a
// slot is free.
func (b *builder) scheduleStage(ctx context.Context, def *dockerfile.Stage, slots chan struct{}) error {
	// Waiting before taking a slot: a stage holding one never waits for
	// another.
	deps := def.Uses
	if def.FromStage >= 0 {
		deps = append([]int{def.FromStage}, deps...)
	}
	for _, d := range deps {
		if err := b.waitStage(ctx, d); err != nil {
			close(b.done[def.Index])
			return err
		}
	}
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		close(b.done[def.Index])
		return ctx.Err()
	}
	defer func() { <-slots }()
	return b.buildStage(ctx, def)
}

// buildStage builds one stage and marks it done.
func (b *builder) buildStage(ctx context.Context, def *dockerfile.Stage) error {
	defer close(b.done[def.Index])
	s, err := b.runStage(ctx, def)
	if err != nil {
		return err
	}
	b.stages[def.Index] = s
	return nil
}

// waitStage waits until stage i is built; a stage that failed has already
// cancelled ctx with its own error.
func (b *builder) waitStage(ctx context.Context, i int) error {
	select {
	case <-b.done[i]:
	case <-ctx.Done():
		return ctx.Err()
	}
	if b.stages[i] == nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fmt.Errorf("stage %s was not built", b.plan.Stages[i].Ref())
	}
	return nil
}

func (b *builder) close() {
	b.stopBg()
	_ = b.background.Wait()
	for _, s := range b.snaps {
		_ = s.Close()
	}
	for _, d := range b.cleanup {
		_ = os.RemoveAll(d)
	}
}

func (b *builder) emit(e Event) {
	if b.opts.Events == nil {
		return
	}
	b.eventMu.Lock()
	defer b.eventMu.Unlock()
	b.opts.Events(e)
}

func (b *builder) now() time.Time {
	if b.opts.Epoch != nil {
		return *b.opts.Epoch
	}
	return time.Now().UTC()
}

// stageState is a stage being built.
type stageState struct {
	def        *dockerfile.Stage
	name       string
	cf         *v1.ConfigFile // Config is updated by instructions
	history    []v1.History   // base image's, then this build's
	layers     []v1.Layer     // base first
	baseLayers int
	key        cache.Key
	runEnv     dockerfile.Env // ENV and ARG values, for expansion and RUN
	args       dockerfile.Env // ARGs declared in this stage
	cmdSet     bool
	created    time.Time
	step       int
	steps      int

	snap    snapshot.Snapshotter
	snapped int // layers appended to snap

	// lex expands words; it keeps state, so each stage has its own.
	lex *shell.Lex
}

// snapshotter returns the stage's snapshotter with every layer appended.
func (b *builder) snapshotter(s *stageState) (snapshot.Snapshotter, error) {
	if s.snap == nil {
		snap, err := b.newSnapshotter()
		if err != nil {
			return nil, err
		}
		s.snap = snap
		b.mu.Lock()
		b.snaps = append(b.snaps, snap)
		b.mu.Unlock()
	}
	for ; s.snapped < len(s.layers); s.snapped++ {
		s.snap.Append(s.layers[s.snapped])
	}
	return s.snap, nil
}

// newSnapshotter is an empty snapshotter of the build's isolation mode.
func (b *builder) newSnapshotter() (snapshot.Snapshotter, error) {
	return b.iso.newSnapshotter(b.opts.Store, b.opts.Snapshotter, snapshot.Options{Epoch: b.opts.Epoch, Devices: b.opts.Allow.DeviceNodes})
}

// diffIDs identifies a stage's filesystem by its layers' content.
func (s *stageState) diffIDs() ([]string, error) {
	out := make([]string, 0, len(s.layers))
	for _, l := range s.layers {
		d, err := l.DiffID()
		if err != nil {
			return nil, err
		}
		out = append(out, d.String())
	}
	return out, nil
}

func (b *builder) runStage(ctx context.Context, def *dockerfile.Stage) (*stageState, error) {
	name := def.Name
	if name == "" {
		name = fmt.Sprintf("stage-%d", def.Index)
	}
	s := &stageState{def: def, name: name, lex: shell.NewLex(b.plan.Escape)}
	triggers, err := b.from(ctx, s)
	if err != nil {
		return nil, err
	}
	cmds := append(triggers, def.Commands...)
	s.steps = len(cmds)
	for i, c := range cmds {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s.step = i + 1
		if err := b.dispatch(ctx, s, c); err != nil {
			var se *StepError
			if errors.As(err, &se) {
				return nil, err
			}
			return nil, &StepError{File: b.plan.File, Line: dockerfile.Line(c), Instruction: instructionText(c), Err: err}
		}
	}
	return s, nil
}

// layerStep runs a filesystem-changing step unless the cache has its
// result. run writes the step's layer tar to w; inSnap says whether the
// stage's snapshotter already holds the new layer.
func (b *builder) layerStep(ctx context.Context, s *stageState, c instructions.Command, key cache.Key, createdBy string,
	run func(w io.Writer) (diff snapshot.Diff, inSnap bool, err error)) error {
	ev := Event{Stage: s.name, Step: s.step, Steps: s.steps, Line: dockerfile.Line(c), Instruction: instructionText(c)}
	b.countStep(false)
	if b.opts.Cache != nil && !b.opts.NoCache {
		e, ok, err := b.opts.Cache.Get(ctx, key)
		if err != nil {
			b.emit(Event{Kind: Warning, Stage: s.name, Line: ev.Line, Text: fmt.Sprintf("cache lookup failed, building: %v", err)})
		}
		if ok {
			b.countStep(true)
			created := e.Created
			if b.opts.Epoch != nil {
				created = *b.opts.Epoch
			}
			s.addStep(e.Layer, created, createdBy)
			s.key = key
			ev.Kind = StepCached
			if e.Layer != nil {
				ev.LayerSize, _ = e.Layer.Size()
			}
			b.emit(ev)
			return nil
		}
	}
	start := time.Now()
	ev.Kind = StepStarted
	b.emit(ev)
	b.startPrefetch(s.def.Index)
	bw, err := b.opts.Blobs.Create(b.opts.Compression)
	if err != nil {
		return err
	}
	diff, inSnap, err := run(bw)
	if err != nil {
		bw.Abort()
		return err
	}
	var layer v1.Layer
	if diff.Entries > 0 {
		if layer, err = bw.Commit(); err != nil {
			return err
		}
		ev.LayerSize, _ = layer.Size()
	} else {
		bw.Abort()
	}
	created := b.now()
	s.addStep(layer, created, createdBy)
	if inSnap && layer != nil {
		s.snapped = len(s.layers)
	}
	s.key = key
	if b.opts.Cache != nil {
		entry := cache.Entry{Layer: layer, Created: created}
		b.puts.Go(func() error { return b.opts.Cache.Put(context.WithoutCancel(ctx), key, entry) })
	}
	ev.Kind, ev.Duration = StepDone, time.Since(start)
	b.emit(ev)
	return nil
}

// countStep counts a step (cached false, when it starts), or that the step
// came from the cache (cached true).
func (b *builder) countStep(cached bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cached {
		b.cached++
	} else {
		b.steps++
	}
}

// addCleanup removes dir when the build ends.
func (b *builder) addCleanup(dir string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cleanup = append(b.cleanup, dir)
}

// cacheLock is the lock of a RUN --mount=type=cache,sharing=locked
// directory.
func (b *builder) cacheLock(dir string) *sync.Mutex {
	b.mu.Lock()
	defer b.mu.Unlock()
	m, ok := b.cacheLocks[dir]
	if !ok {
		m = &sync.Mutex{}
		b.cacheLocks[dir] = m
	}
	return m
}

// sourceLock is the lock of a built stage or pulled image that other stages
// read files from (COPY --from, RUN --mount from=): they share its
// snapshotter, so they take turns.
func (b *builder) sourceLock(s *stageState) *sync.Mutex {
	b.mu.Lock()
	defer b.mu.Unlock()
	m, ok := b.srcLocks[s]
	if !ok {
		m = &sync.Mutex{}
		b.srcLocks[s] = m
	}
	return m
}

// addStep records a step's layer (nil for none) and history.
func (s *stageState) addStep(layer v1.Layer, created time.Time, createdBy string) {
	if layer != nil {
		s.layers = append(s.layers, layer)
	}
	s.history = append(s.history, v1.History{Created: v1.Time{Time: created}, CreatedBy: createdBy, EmptyLayer: layer == nil})
	s.created = created
}

// configStep records a step that changes only the image config.
func (b *builder) configStep(s *stageState, c instructions.Command, createdBy string) {
	s.history = append(s.history, v1.History{Created: v1.Time{Time: s.created}, CreatedBy: createdBy, EmptyLayer: true})
	b.emit(Event{Kind: StepDone, Stage: s.name, Step: s.step, Steps: s.steps, Line: dockerfile.Line(c), Instruction: instructionText(c)})
}

// assemble makes the image of a built stage, with OCI media types.
func (b *builder) assemble(s *stageState) (v1.Image, error) {
	cf := s.cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.History = s.history
	cf.Created = v1.Time{Time: s.created}
	if b.opts.Epoch != nil {
		cf.Created = v1.Time{Time: *b.opts.Epoch}
	}
	cf.RootFS = v1.RootFS{Type: "layers"}
	// A base image's docker_version does not describe this image.
	//lint:ignore SA1019 the deprecated field is cleared, not set
	cf.Container, cf.DockerVersion = "", ""
	adds := make([]mutate.Addendum, 0, len(s.layers))
	for _, l := range s.layers {
		d, err := l.DiffID()
		if err != nil {
			return nil, fmt.Errorf("reading layer: %w", err)
		}
		cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, d)
		mt, err := l.MediaType()
		if err != nil {
			return nil, fmt.Errorf("reading layer: %w", err)
		}
		adds = append(adds, mutate.Addendum{Layer: l, MediaType: ociLayerType(mt)})
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.Append(img, adds...)
	if err != nil {
		return nil, err
	}
	return mutate.ConfigFile(img, cf)
}

// ociLayerType maps Docker layer media types to their OCI equivalents; the
// blob is the same, only the descriptor changes.
func ociLayerType(mt types.MediaType) types.MediaType {
	switch mt {
	case types.DockerLayer:
		return types.OCILayer
	case types.DockerUncompressedLayer:
		return types.OCIUncompressedLayer
	case types.DockerForeignLayer:
		return types.OCIRestrictedLayer
	}
	return mt
}

func instructionText(c instructions.Command) string {
	if s, ok := c.(fmt.Stringer); ok {
		return s.String()
	}
	return c.Name()
}

package build

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/sync/errgroup"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/build/dockerbuild"
	"github.com/skiff-dev/skiff/internal/build/snapshot"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/gitinfo"
	"github.com/skiff-dev/skiff/internal/oci"
)

// Target is an artifact to build with the tag policy of the module that
// declares it.
type Target struct {
	Artifact  *config.Artifact
	TagPolicy config.TagPolicy
}

// Options configure a build of several artifacts.
type Options struct {
	// Tag overrides every tag policy (-t/--tag).
	Tag string
	// DefaultRepo rewrites image names (--default-repo).
	DefaultRepo string
	// Push sends images to their registry; when false they go to the OCI
	// layout OutputDir (if set).
	Push      bool
	OutputDir string
	// DryRun computes tags without building.
	DryRun bool
	// Concurrency bounds parallel builds; 0 means no limit.
	Concurrency int
	// Built maps image names to references (repo:tag@sha256:digest) built
	// earlier, such as by the last round of a dev loop. An artifact that
	// requires one of them, and is built without it among the targets,
	// gets that reference instead of an error.
	Built map[string]string

	// CacheArtifacts enables the layer cache; CacheRepo overrides the
	// registry cache repository (default <image>/cache); CacheDir is the
	// local cache, which also keeps extracted layers.
	CacheArtifacts bool
	CacheRepo      string
	CacheDir       string
	// Reproducible (or SourceDateEpoch) pins every timestamp.
	Reproducible    bool
	SourceDateEpoch *time.Time
	Compression     oci.Compression
	// Secrets maps secret ids to files, added to those artifacts declare.
	Secrets map[string]string
	// Snapshotter forces overlay or walk snapshots (default: auto).
	Snapshotter snapshot.Kind
	// Isolation is how RUN steps are confined (--isolation, default auto);
	// Allow grants entitlements such as network.host (--allow).
	Isolation dockerbuild.Isolation
	Allow     dockerbuild.Entitlements

	Registry *oci.Client
	// Dockerfiles, when set, builds the docker and kaniko artifacts instead
	// of the in-process builder (the cluster builder: build.cluster, skiff
	// build --cluster); custom artifacts still run here.
	Dockerfiles Builder
	// Events receives progress; called from several goroutines, serialized.
	Events func(Event)
	// Wrap, when set, decorates the builder of each artifact (the
	// artifacts' lifecycle hooks run around its builds this way).
	Wrap func(Builder) Builder
}

// EventKind says what an Event reports.
type EventKind int

const (
	// ArtifactStarted: an artifact's build began (its tag is known).
	ArtifactStarted EventKind = iota
	// ArtifactStep: a step of a Dockerfile build (see Step).
	ArtifactStep
	// ArtifactOutput: a line of a custom build command's output.
	ArtifactOutput
	// ArtifactDone: the artifact is built (and pushed, see Pushed).
	ArtifactDone
	// ArtifactFailed: the artifact's build failed (see Err).
	ArtifactFailed
	// ArtifactWarning: something to know that did not stop the build.
	ArtifactWarning
)

// Event is build progress for one artifact.
type Event struct {
	Kind     EventKind
	Artifact string
	// Tag is the reference being built, with the digest once done.
	Tag      string
	Step     *dockerbuild.Event
	Text     string
	Err      error
	Duration time.Duration
	// Pushed says whether anything was sent to the registry; Steps and
	// Cached count Dockerfile steps and cache hits.
	Pushed        bool
	Steps, Cached int
}

// Builder builds one artifact to ref. deps maps the aliases of the
// artifacts it requires to their built references.
type Builder interface {
	Build(ctx context.Context, a *config.Artifact, ref name.Tag, deps map[string]string, emit func(Event)) (Built, error)
}

// Built is a built artifact.
type Built struct {
	// Ref is repo:tag@sha256:digest (without the digest if unknown).
	Ref           string
	Pushed        bool
	Steps, Cached int
}

// Run builds targets in dependency order (requires), at most
// opts.Concurrency at a time, and returns the builds in target order.
func Run(ctx context.Context, targets []Target, opts Options) ([]artifact.Build, error) {
	if opts.Registry == nil {
		opts.Registry = oci.New(oci.Options{})
	}
	var mu sync.Mutex
	emit := func(e Event) {
		if opts.Events == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		opts.Events(e)
	}
	tags, err := resolveTags(ctx, targets, opts, emit)
	if err != nil {
		return nil, err
	}
	results := make([]artifact.Build, len(targets))
	if opts.DryRun {
		for i, t := range targets {
			results[i] = artifact.Build{ImageName: t.Artifact.ImageName, Tag: tags[i].String()}
		}
		return results, nil
	}
	var docker *dockerfileBuilder
	builderFor := func(a *config.Artifact) (Builder, error) {
		if a.CustomArtifact != nil {
			return &customBuilder{push: opts.Push, registry: opts.Registry}, nil
		}
		if a.KoArtifact != nil {
			return &koBuilder{opts: opts}, nil
		}
		if opts.Dockerfiles != nil {
			return opts.Dockerfiles, nil
		}
		if docker == nil {
			var err error
			if docker, err = newDockerfileBuilder(opts); err != nil {
				return nil, err
			}
		}
		return docker, nil
	}

	index := map[string]int{}
	for i, t := range targets {
		index[t.Artifact.ImageName] = i
	}
	done := make([]chan struct{}, len(targets))
	for i := range done {
		done[i] = make(chan struct{})
	}
	limit := opts.Concurrency
	if limit <= 0 {
		limit = len(targets)
	}
	sem := make(chan struct{}, max(limit, 1))
	g, gctx := errgroup.WithContext(ctx)
	for i, t := range targets {
		g.Go(func() error {
			a := t.Artifact
			deps := map[string]string{}
			for _, d := range a.Dependencies {
				alias := d.Alias
				if alias == "" {
					alias = d.ImageName
				}
				j, ok := index[d.ImageName]
				if !ok {
					ref, built := opts.Built[d.ImageName]
					if !built {
						return fmt.Errorf("%s requires %s, which is not built; build them together", a.ImageName, d.ImageName)
					}
					deps[alias] = ref
					continue
				}
				select {
				case <-done[j]:
				case <-gctx.Done():
					return gctx.Err()
				}
				deps[alias] = results[j].Tag
			}
			select {
			case sem <- struct{}{}:
			case <-gctx.Done():
				return gctx.Err()
			}
			defer func() { <-sem }()
			b, err := builderFor(a)
			if err != nil {
				return err
			}
			if opts.Wrap != nil {
				b = opts.Wrap(b)
			}
			start := time.Now()
			emit(Event{Kind: ArtifactStarted, Artifact: a.ImageName, Tag: tags[i].String()})
			artEmit := func(e Event) { e.Artifact = a.ImageName; emit(e) }
			built, err := b.Build(gctx, a, tags[i], deps, artEmit)
			if err != nil {
				err = fmt.Errorf("building %s: %w", a.ImageName, err)
				emit(Event{Kind: ArtifactFailed, Artifact: a.ImageName, Tag: tags[i].String(), Err: err, Duration: time.Since(start)})
				return err
			}
			results[i] = artifact.Build{ImageName: a.ImageName, Tag: built.Ref}
			close(done[i])
			emit(Event{Kind: ArtifactDone, Artifact: a.ImageName, Tag: built.Ref, Pushed: built.Pushed, Steps: built.Steps, Cached: built.Cached, Duration: time.Since(start)})
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return results, nil
}

// resolveTags computes every target's reference: default repo rewriting,
// then --tag or the tag policy.
func resolveTags(ctx context.Context, targets []Target, opts Options, emit func(Event)) ([]name.Tag, error) {
	tg := &tagger{now: time.Now, environ: config.Environ, digest: inputDigest}
	out := make([]name.Tag, len(targets))
	for i, t := range targets {
		a := t.Artifact
		image, err := koImageName(opts, a.ImageName)
		if err != nil {
			return nil, err
		}
		image = DefaultRepoImage(opts.DefaultRepo, image)
		if strings.ContainsAny(strings.TrimPrefix(image, strings.SplitN(image, "/", 2)[0]), "@") {
			return nil, fmt.Errorf("image %s: names to build cannot have a digest", a.ImageName)
		}
		tag := opts.Tag
		if tag == "" {
			var err error
			tag, err = tg.Tag(ctx, a, t.TagPolicy)
			switch {
			case errors.Is(err, gitinfo.ErrNotRepository):
				// Skaffold falls back to "latest" outside a git work tree.
				emit(Event{Kind: ArtifactWarning, Artifact: a.ImageName, Text: fmt.Sprintf("%v; tagging with latest", err)})
				tag = "latest"
			case err != nil:
				return nil, fmt.Errorf("tagging %s: %w", a.ImageName, err)
			}
		}
		base, _ := splitTagDigest(image)
		ref, err := opts.Registry.ParseReference(base + ":" + tag)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", a.ImageName, err)
		}
		nt, ok := ref.(name.Tag)
		if !ok {
			return nil, errors.New("image " + a.ImageName + ": not a tag reference")
		}
		out[i] = nt
	}
	return out, nil
}

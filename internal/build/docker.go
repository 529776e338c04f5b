package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/skiff-dev/skiff/internal/build/cache"
	"github.com/skiff-dev/skiff/internal/build/dockerbuild"
	"github.com/skiff-dev/skiff/internal/build/snapshot"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/oci"
)

// dockerfileBuilder builds docker and kaniko artifacts with the daemonless
// Dockerfile builder; they share one local cache and layer store.
type dockerfileBuilder struct {
	opts     Options
	store    *snapshot.Store
	blobs    *oci.Blobs
	local    *cache.Local
	cacheDir string
}

func newDockerfileBuilder(opts Options) (*dockerfileBuilder, error) {
	dir, err := CacheDir(opts.CacheDir)
	if err != nil {
		return nil, err
	}
	if err := PrivateDir(dir); err != nil {
		return nil, err
	}
	store, err := snapshot.OpenStore(filepath.Join(dir, "store"))
	if err != nil {
		return nil, err
	}
	blobs, err := oci.OpenBlobs(filepath.Join(dir, "blobs"))
	if err != nil {
		return nil, err
	}
	local, err := cache.NewLocal(dir, blobs)
	if err != nil {
		return nil, err
	}
	// Registry cache hits are kept in the local cache; their layers stay in
	// the registry until a step needs their files.
	local.Remote = func(ctx context.Context, repo string, d oci.Desc) (v1.Layer, error) {
		r, err := opts.Registry.ParseRepository(repo)
		if err != nil {
			return nil, err
		}
		return opts.Registry.RemoteLayer(ctx, r, d), nil
	}
	return &dockerfileBuilder{opts: opts, store: store, blobs: blobs, local: local, cacheDir: dir}, nil
}

// epoch is the time a reproducible build pins: SOURCE_DATE_EPOCH, else 0.
func (d *dockerfileBuilder) epoch(spec DockerSpec) (*time.Time, error) {
	if d.opts.SourceDateEpoch != nil {
		return d.opts.SourceDateEpoch, nil
	}
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds", v)
		}
		t := time.Unix(n, 0).UTC()
		return &t, nil
	}
	if d.opts.Reproducible || spec.Reproducible {
		t := time.Unix(0, 0).UTC()
		return &t, nil
	}
	return nil, nil
}

func (d *dockerfileBuilder) Build(ctx context.Context, a *config.Artifact, ref name.Tag, deps map[string]string, emit func(Event)) (Built, error) {
	spec, ok := Spec(a)
	if !ok {
		return Built{}, fmt.Errorf("artifact %s has no Dockerfile to build", a.ImageName)
	}
	for alias, r := range deps {
		spec.BuildArgs[alias] = r
	}
	return d.buildSpec(ctx, spec, ref, emit)
}

// BuildSpec builds one Dockerfile build to ref in-process, with the
// options' registry, caches, isolation and push settings; it is what the
// cluster builder's pod runs. Requires' references are already in
// spec.BuildArgs. Progress goes to opts.Events.
func BuildSpec(ctx context.Context, spec DockerSpec, ref name.Tag, opts Options) (Built, error) {
	if opts.Registry == nil {
		opts.Registry = oci.New(oci.Options{})
	}
	d, err := newDockerfileBuilder(opts)
	if err != nil {
		return Built{}, err
	}
	emit := func(e Event) {
		if opts.Events != nil {
			opts.Events(e)
		}
	}
	return d.buildSpec(ctx, spec, ref, emit)
}

func (d *dockerfileBuilder) buildSpec(ctx context.Context, spec DockerSpec, ref name.Tag, emit func(Event)) (Built, error) {
	// skiff cleanup --local waits for this shared lock to be released.
	unlock, err := cache.Lock(ctx, d.cacheDir, false)
	if err != nil {
		return Built{}, err
	}
	defer unlock()
	args := spec.BuildArgs
	secrets, cleanup, err := d.secrets(spec.Secrets)
	if err != nil {
		return Built{}, err
	}
	defer cleanup()
	epoch, err := d.epoch(spec)
	if err != nil {
		return Built{}, err
	}
	bopts := dockerbuild.Options{
		ContextDir: spec.ContextDir, Dockerfile: spec.Dockerfile, Target: spec.Target, BuildArgs: args, Secrets: secrets,
		Registry: d.opts.Registry, Store: d.store, Blobs: d.blobs, Snapshotter: d.opts.Snapshotter,
		NoCache: spec.NoCache, CacheMountDir: filepath.Join(d.cacheDir, "mounts"), Epoch: epoch, Compression: d.opts.Compression,
		Isolation: d.opts.Isolation, Allow: d.opts.Allow, Network: spec.Network,
		Events: func(e dockerbuild.Event) { emit(Event{Kind: ArtifactStep, Tag: ref.String(), Step: &e}) },
	}
	var used *cache.Recorder
	if d.opts.CacheArtifacts {
		c, err := d.cacheFor(ref, spec)
		if err != nil {
			return Built{}, err
		}
		used = cache.NewRecorder(c)
		bopts.Cache = used
	}
	res, err := dockerbuild.Build(ctx, bopts)
	if err != nil {
		return Built{}, err
	}
	img, err := withLabels(res.Image, spec.Labels)
	if err != nil {
		return Built{}, err
	}
	dig, err := img.Digest()
	if err != nil {
		return Built{}, err
	}
	built := Built{Ref: ref.String() + "@" + dig.String(), Steps: res.Steps, Cached: res.Cached}
	if built.Pushed, err = deliver(ctx, d.opts, ref, img); err != nil {
		return Built{}, err
	}
	if d.opts.Push {
		d.putCacheIndex(ctx, used, dig, emit, ref.Context().Name())
	}
	return built, nil
}

// deliver pushes img as ref, or writes it to the output directory, as opts
// say; pushed reports whether the registry received anything new.
func deliver(ctx context.Context, opts Options, ref name.Tag, img v1.Image) (pushed bool, err error) {
	switch {
	case opts.Push:
		pr, err := opts.Registry.Push(ctx, ref, img)
		if err != nil {
			return false, err
		}
		return pr.Pushed, nil
	case opts.OutputDir != "":
		return false, writeLayout(opts.OutputDir, img, ref)
	}
	return false, nil
}

// cacheFor is the local cache, then the registry cache (--cache-repo, the
// kaniko artifact's cache.repo, or <image>/cache), then any cacheFrom
// repositories, which are only read.
func (d *dockerfileBuilder) cacheFor(ref name.Tag, spec DockerSpec) (cache.Cache, error) {
	repoName := d.opts.CacheRepo
	if repoName == "" {
		repoName = spec.CacheRepo
	}
	if repoName == "" {
		repoName = CacheRepo(ref.Context().Name())
	}
	repo, err := d.opts.Registry.ParseRepository(repoName)
	if err != nil {
		return nil, fmt.Errorf("cache repository: %w", err)
	}
	tiers := cache.Tiered{d.local, registryCache{cache.NewRegistry(d.opts.Registry, repo)}}
	for _, from := range spec.CacheFrom {
		r, err := d.opts.Registry.ParseRepository(strings.SplitN(from, "@", 2)[0])
		if err != nil {
			base, _ := splitTagDigest(from)
			if r, err = d.opts.Registry.ParseRepository(base); err != nil {
				return nil, fmt.Errorf("cacheFrom %s: %w", from, err)
			}
		}
		tiers = append(tiers, readOnly{cache.NewRegistry(d.opts.Registry, r)})
	}
	return tiers, nil
}

// readOnly is a cache that is consulted but never written.
type readOnly struct{ cache.Cache }

func (readOnly) Put(context.Context, cache.Key, cache.Entry) error { return nil }

// secrets turns configured secrets into files: env secrets are written to
// private temporary files for the duration of the build.
func (d *dockerfileBuilder) secrets(conf []*config.DockerSecret) (map[string]string, func(), error) {
	out := map[string]string{}
	for k, v := range d.opts.Secrets {
		out[k] = v
	}
	var tmp string
	cleanup := func() {
		if tmp != "" {
			os.RemoveAll(tmp)
		}
	}
	for i, s := range conf {
		switch {
		case s.Source != "":
			out[s.ID] = s.Source
		case s.Env != "":
			v, ok := os.LookupEnv(s.Env)
			if !ok {
				cleanup()
				return nil, nil, fmt.Errorf("secret %s: environment variable %s is not set", s.ID, s.Env)
			}
			if tmp == "" {
				var err error
				if tmp, err = os.MkdirTemp("", "skiff-secrets-"); err != nil {
					return nil, nil, err
				}
			}
			p := filepath.Join(tmp, fmt.Sprintf("secret-%d", i)) // never the id: it is not a safe file name
			if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
				cleanup()
				return nil, nil, err
			}
			out[s.ID] = p
		}
	}
	return out, cleanup, nil
}

// withLabels adds a kaniko artifact's labels to the image config.
func withLabels(img v1.Image, labels map[string]*string) (v1.Image, error) {
	if len(labels) == 0 {
		return img, nil
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	if cf.Config.Labels == nil {
		cf.Config.Labels = map[string]string{}
	}
	for k, v := range labels {
		if v != nil {
			cf.Config.Labels[k] = *v
		}
	}
	return mutate.ConfigFile(img, cf)
}

// layoutMu serialises writes to OCI layouts: several builds of one run
// add their images to the same OutputDir.
var layoutMu sync.Mutex

// writeLayout adds the image to the OCI layout in dir, named by ref.
func writeLayout(dir string, img v1.Image, ref name.Tag) error {
	layoutMu.Lock()
	defer layoutMu.Unlock()
	p, err := layout.FromPath(dir)
	if err != nil {
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return fmt.Errorf("creating OCI layout %s: %w", dir, err)
		}
	}
	ann := map[string]string{"org.opencontainers.image.ref.name": ref.String()}
	if err := p.ReplaceImage(img, matchRefName(ref.String()), layout.WithAnnotations(ann)); err != nil {
		return fmt.Errorf("writing %s to %s: %w", ref, dir, err)
	}
	return nil
}

func matchRefName(ref string) func(v1.Descriptor) bool {
	return func(desc v1.Descriptor) bool { return desc.Annotations["org.opencontainers.image.ref.name"] == ref }
}

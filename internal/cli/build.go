package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/build"
	"github.com/skiff-dev/skiff/internal/build/dockerbuild"
	"github.com/skiff-dev/skiff/internal/build/snapshot"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/oci"
)

// buildFlags are `skiff build`'s flags, named as Skaffold names them; skiff
// run has them too.
type buildFlags struct {
	images         []string
	tag            string
	push           optBool
	quiet          bool
	dryRun         bool
	cacheArtifacts bool
	cacheRepo      string
	cacheDir       string
	concurrency    int
	reproducible   bool
	compression    string
	outputDir      string
	secrets        []string
	snapshotter    string
	iso            isolationFlags
	cl             clusterFlags
}

func (f *buildFlags) add(fl *pflag.FlagSet) {
	fl.StringSliceVarP(&f.images, "build-image", "b", nil, "only build artifacts whose image name contains one of these (and what they require)")
	fl.StringVarP(&f.tag, "tag", "t", "", "tag every image with this instead of the tag policy")
	boolFlag(fl, &f.push, "push", true, "push the images (default: build.local.push, else true); with --push=false write them to --output-dir")
	fl.BoolVar(&f.dryRun, "dry-run", false, "compute the tags without building")
	fl.BoolVar(&f.cacheArtifacts, "cache-artifacts", true, "look up and store layers in the local and registry caches")
	fl.StringVar(&f.cacheRepo, "cache-repo", "", "registry repository for cached layers (default: <image>/cache)")
	fl.StringVar(&f.cacheDir, "cache-dir", "", "local cache and layer store (default: ${XDG_CACHE_HOME:-~/.cache}/skiff/build)")
	fl.IntVar(&f.concurrency, "build-concurrency", -1, "artifacts built at once; 0 for no limit (default: build.local.concurrency, else 1)")
	fl.BoolVar(&f.reproducible, "reproducible", false, "identical inputs give identical digests: timestamps set to SOURCE_DATE_EPOCH, else 0")
	fl.StringVar(&f.compression, "compression", "gzip", "layer compression: gzip or zstd")
	fl.StringVar(&f.outputDir, "output-dir", "", "with --push=false, add the images to this OCI image layout")
	fl.StringArrayVar(&f.secrets, "secret", nil, "build secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR (repeatable)")
	fl.StringVar(&f.snapshotter, "snapshotter", "", "overlay or walk (default: overlay when the kernel allows it)")
	_ = fl.MarkHidden("snapshotter")
	f.iso.add(fl)
	f.cl.add(fl)
}

func (f *buildFlags) validate() error {
	if _, err := oci.ParseCompression(f.compression); err != nil {
		return usageError("--compression: %v", err)
	}
	if f.snapshotter != "" && f.snapshotter != "overlay" && f.snapshotter != "walk" {
		return usageError("--snapshotter %q: use overlay or walk", f.snapshotter)
	}
	if err := f.iso.validate(); err != nil {
		return err
	}
	return f.cl.validate()
}

// buildOptions are skiff build's.
type buildOptions struct {
	s          *session
	flags      buildFlags
	fileOutput string
}

func newBuildCmd(s *session) *cobra.Command {
	o := &buildOptions{s: s}
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Build the configured artifacts into images without a Docker daemon",
		Long: "Build the configured artifacts (docker, kaniko and custom) in dependency order and push them.\n" +
			"Dockerfiles are built in-process: RUN steps run isolated in the image's filesystem, every\n" +
			"step is cached by content in a local directory and in the registry, and a rebuild with\n" +
			"nothing changed is only cache lookups. Progress goes to stderr; with -q the artifacts\n" +
			"JSON goes to stdout.",
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			// SKIFF_CPUPROFILE=FILE (undocumented, for hack/bench) writes
			// a pprof CPU profile of the build.
			if p := os.Getenv("SKIFF_CPUPROFILE"); p != "" {
				f, err := os.Create(p)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			return runVerb(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	o.flags.add(fl)
	fl.StringVar(&o.fileOutput, "file-output", "", "write the built images to this artifacts file ({\"builds\":[...]}, Skaffold's format)")
	fl.BoolVarP(&o.flags.quiet, "quiet", "q", false, "no progress; print the artifacts JSON on stdout")
	return cmd
}

func (o *buildOptions) Validate() error { return o.flags.validate() }

func (o *buildOptions) isolation() (*session, *isolationFlags, string, bool) {
	return o.s, &o.flags.iso, o.flags.cacheDir, !o.flags.dryRun && !o.flags.cl.cluster
}

func (o *buildOptions) Run(ctx context.Context) error {
	p, err := o.s.project()
	if err != nil {
		return err
	}
	builds, err := o.s.build(ctx, p, &o.flags)
	if err != nil {
		return err
	}
	file := &artifact.File{Builds: builds}
	if o.fileOutput != "" {
		if err := file.WriteFile(o.fileOutput); err != nil {
			return err
		}
	}
	if o.flags.quiet {
		return file.Write(o.s.streams.Out)
	}
	for _, b := range builds {
		fmt.Fprintf(o.s.streams.Out, "%s\t%s\n", b.ImageName, b.Tag)
	}
	return nil
}

// build builds p's selected artifacts with the flags, printing progress on
// stderr; skiff build and skiff run share it.
func (s *session) build(ctx context.Context, p *config.Project, f *buildFlags) ([]artifact.Build, error) {
	compression, _ := oci.ParseCompression(f.compression) // checked by validate
	secrets, cleanup, err := parseSecrets(f.secrets)
	if err != nil {
		return nil, usageError("--secret: %v", err)
	}
	defer cleanup()
	targets := build.Select(p, build.ImageContains(f.images))
	if len(targets) == 0 && len(f.images) > 0 {
		return nil, usageError("--build-image %s matches no artifact", strings.Join(f.images, ","))
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("no artifacts to build in %s", p.File)
	}
	settings := p.BuildSettings()
	opts := build.Options{
		Tag: f.tag, DefaultRepo: s.flags.DefaultRepo, Push: f.push.or(settings.Push), OutputDir: f.outputDir, DryRun: f.dryRun,
		Concurrency: f.concurrency, CacheArtifacts: f.cacheArtifacts, CacheRepo: f.cacheRepo, CacheDir: f.cacheDir,
		Reproducible: f.reproducible, Compression: compression, Secrets: secrets, Snapshotter: snapshot.Kind(f.snapshotter),
		Registry: s.registry(p), Isolation: f.iso.mode(),
	}
	opts.Allow = f.iso.entitlements()
	if opts.Concurrency < 0 {
		opts.Concurrency = 1
		if settings.Concurrency != nil {
			opts.Concurrency = *settings.Concurrency
		}
	}
	if !opts.DryRun {
		cb, err := s.clusterBuilder(p, f, opts)
		if err != nil {
			return nil, err
		}
		if cb != nil {
			defer func() {
				if err := cb.Close(); err != nil {
					s.warn("%v", err)
				}
			}()
			opts.Dockerfiles = cb
			if f.concurrency < 0 {
				opts.Concurrency = 0 // build.cluster.concurrency bounds the pods
			}
			if !opts.Push {
				return nil, usageError("--push=false: cluster builds push from their pods; there is nothing to export locally")
			}
		}
	}
	if !opts.Push && opts.OutputDir == "" && !opts.DryRun {
		s.warn("--push=false without --output-dir: images are built and cached but not exported")
	}
	pr := &buildProgress{w: s.streams.Err, quiet: f.quiet, verbose: s.verbose()}
	opts.Events = pr.event
	opts.Wrap = s.wrapBuildHooks(p, opts.Push)
	return build.Run(ctx, targets, opts)
}

// parseSecrets reads --secret id=ID,src=FILE|env=VAR values; env secrets
// are written to private temporary files removed by cleanup.
func parseSecrets(values []string) (map[string]string, func(), error) {
	out := map[string]string{}
	var tmp string
	cleanup := func() {
		if tmp != "" {
			os.RemoveAll(tmp)
		}
	}
	for _, v := range values {
		fields := map[string]string{}
		for _, kv := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(kv, "=")
			if !ok {
				cleanup()
				return nil, nil, fmt.Errorf("%q: want id=ID,src=FILE", v)
			}
			fields[k] = val
		}
		id := fields["id"]
		if id == "" {
			cleanup()
			return nil, nil, fmt.Errorf("%q: missing id=", v)
		}
		switch {
		case fields["src"] != "" || fields["source"] != "":
			src := fields["src"]
			if src == "" {
				src = fields["source"]
			}
			if _, err := os.Stat(src); err != nil {
				cleanup()
				return nil, nil, fmt.Errorf("secret %s: %w", id, err)
			}
			out[id] = src
		case fields["env"] != "":
			val, ok := os.LookupEnv(fields["env"])
			if !ok {
				cleanup()
				return nil, nil, fmt.Errorf("secret %s: environment variable %s is not set", id, fields["env"])
			}
			if tmp == "" {
				var err error
				if tmp, err = os.MkdirTemp("", "skiff-secrets-"); err != nil {
					return nil, nil, err
				}
			}
			p := filepath.Join(tmp, id)
			if err := os.WriteFile(p, []byte(val), 0o600); err != nil {
				cleanup()
				return nil, nil, err
			}
			out[id] = p
		default:
			cleanup()
			return nil, nil, fmt.Errorf("%q: want src=FILE or env=VAR", v)
		}
	}
	return out, cleanup, nil
}

// buildProgress prints build events on stderr, one line each, prefixed by
// the artifact so that concurrent builds stay readable in CI logs.
type buildProgress struct {
	w       io.Writer
	quiet   bool
	verbose bool
	mu      sync.Mutex
}

func (p *buildProgress) event(e build.Event) {
	if p.quiet && e.Kind != build.ArtifactFailed && e.Kind != build.ArtifactWarning {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.Kind {
	case build.ArtifactStarted:
		fmt.Fprintf(p.w, "Building %s as %s\n", e.Artifact, e.Tag)
	case build.ArtifactStep:
		p.step(e.Artifact, e.Step)
	case build.ArtifactOutput:
		fmt.Fprintf(p.w, "[%s] | %s\n", e.Artifact, e.Text)
	case build.ArtifactWarning:
		fmt.Fprintf(p.w, "[%s] warning: %s\n", e.Artifact, e.Text)
	case build.ArtifactDone:
		pushed := "nothing new to push"
		if e.Pushed {
			pushed = "pushed"
		}
		steps := "steps"
		if e.Steps == 1 {
			steps = "step"
		}
		fmt.Fprintf(p.w, "Built %s: %s (%d %s, %d cached, %s) in %s\n", e.Artifact, e.Tag, e.Steps, steps, e.Cached, pushed, e.Duration.Round(time.Millisecond))
	case build.ArtifactFailed:
		fmt.Fprintf(p.w, "Failed %s after %s\n", e.Artifact, e.Duration.Round(time.Millisecond))
	}
}

func (p *buildProgress) step(artifact string, s *dockerbuild.Event) {
	prefix := fmt.Sprintf("[%s] [%s %d/%d]", artifact, s.Stage, s.Step, s.Steps)
	switch s.Kind {
	case dockerbuild.StepCached:
		fmt.Fprintf(p.w, "%s %s: cached%s\n", prefix, oneLine(s.Instruction), size(s.LayerSize))
	case dockerbuild.StepStarted:
		fmt.Fprintf(p.w, "%s %s\n", prefix, oneLine(s.Instruction))
	case dockerbuild.StepDone:
		if s.Duration > 0 || s.LayerSize > 0 {
			fmt.Fprintf(p.w, "%s %s: done in %s%s\n", prefix, oneLine(s.Instruction), s.Duration.Round(time.Millisecond), size(s.LayerSize))
		} else if p.verbose {
			fmt.Fprintf(p.w, "%s %s\n", prefix, oneLine(s.Instruction))
		}
	case dockerbuild.StepOutput:
		// Stages build concurrently: each output line names its stage.
		fmt.Fprintf(p.w, "[%s] [%s] | %s\n", artifact, s.Stage, s.Text)
	case dockerbuild.IsolationSelected:
		fmt.Fprintf(p.w, "[%s] isolation: %s\n", artifact, s.Text)
	case dockerbuild.Warning:
		fmt.Fprintf(p.w, "[%s] warning: %s\n", artifact, s.Text)
	}
}

func size(n int64) string {
	switch {
	case n <= 0:
		return ""
	case n < 1<<10:
		return fmt.Sprintf(", layer %d B", n)
	case n < 1<<20:
		return fmt.Sprintf(", layer %.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf(", layer %.1f MiB", float64(n)/(1<<20))
	}
}

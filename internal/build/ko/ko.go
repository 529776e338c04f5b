package ko

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	kobuild "github.com/google/ko/pkg/build"
	"golang.org/x/tools/go/packages"

	"github.com/skiff-dev/skiff/internal/oci"
)

// Scheme is the prefix of image names that are Go import paths
// (ko://github.com/org/app/cmd/app), as in ko's and Skaffold's manifests.
const Scheme = kobuild.StrictScheme

// DefaultBaseImage is ko's own default base, used when neither the artifact
// (fromImage) nor .ko.yaml names one.
const DefaultBaseImage = "cgr.dev/chainguard/static:latest"

// Platform is the one platform skiff builds.
const Platform = "linux/amd64"

// Spec is one ko build.
type Spec struct {
	// Dir is where the go tool runs: the artifact's context joined with
	// ko.dir.
	Dir string
	// ImportPath is the main package to build, with or without Scheme.
	ImportPath string
	// BaseImage overrides .ko.yaml and ko's default (ko.fromImage).
	BaseImage           string
	Env, Flags, Ldflags []string
	Labels              map[string]string
	// HasBuildConfig says the artifact sets dir, main, env, flags or
	// ldflags; only without them do .ko.yaml's builds apply (Skaffold's
	// rule: pkg/skaffold/build/ko/builder.go, koArtifactSpecifiesBuildConfig).
	HasBuildConfig bool
}

// Options are what a build uses besides its Spec.
type Options struct {
	Registry *oci.Client
	// CacheDir is ko's layer cache (KOCACHE) when the environment sets
	// none; empty builds without it.
	CacheDir string
	// Epoch, when set, is every timestamp of the image (SOURCE_DATE_EPOCH).
	Epoch *time.Time
	// Log receives ko's progress lines ("Building … for linux/amd64").
	Log func(string)
}

// buildMu serialises ko builds: ko logs through the standard logger and
// reads its cache directory from the process environment, both of which
// are captured or set for the length of one build. The go tool runs its
// compilations in parallel on its own.
var buildMu sync.Mutex

// Build compiles spec's main package and returns the image for Platform.
func Build(ctx context.Context, spec Spec, opts Options) (v1.Image, error) {
	if opts.Registry == nil {
		opts.Registry = oci.New(oci.Options{})
	}
	importPath, err := Qualify(spec.Dir, spec.ImportPath)
	if err != nil {
		return nil, err
	}
	path := strings.TrimPrefix(importPath, Scheme)
	kocfg, err := readKoYAML(spec.Dir)
	if err != nil {
		return nil, err
	}
	base := spec.BaseImage
	if base == "" {
		base = kocfg.baseFor(path)
	}
	goDir := spec.Dir
	if !spec.HasBuildConfig {
		if b, ok := kocfg.buildFor(spec.Dir, importPath); ok {
			goDir = filepath.Join(spec.Dir, b.Dir)
			spec.Env, spec.Flags, spec.Ldflags = b.Env, b.Flags, b.Ldflags
		}
	}
	baseRef, err := opts.Registry.ParseReference(base)
	if err != nil {
		return nil, fmt.Errorf("base image %q: %w", base, err)
	}
	getBase := func(ctx context.Context, _ string) (name.Reference, kobuild.Result, error) {
		img, err := opts.Registry.Image(ctx, baseRef)
		if err != nil {
			return nil, nil, err
		}
		return baseRef, img, nil
	}
	kopts := []kobuild.Option{
		kobuild.WithBaseImages(getBase),
		kobuild.WithPlatforms(Platform),
		kobuild.WithTrimpath(true),
		// The SBOM ko makes is a cosign attachment pushed by ko's
		// publisher; skiff pushes the image itself.
		kobuild.WithDisabledSBOM(),
		kobuild.WithConfig(map[string]kobuild.Config{path: {
			ID: importPath, Dir: ".", Env: spec.Env, Flags: spec.Flags, Ldflags: spec.Ldflags,
		}}),
	}
	if opts.Epoch != nil {
		t := v1.Time{Time: *opts.Epoch}
		kopts = append(kopts, kobuild.WithCreationTime(t), kobuild.WithKoDataCreationTime(t))
	}
	keys := make([]string, 0, len(spec.Labels))
	for k := range spec.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		kopts = append(kopts, kobuild.WithLabel(k, spec.Labels[k]))
	}

	buildMu.Lock()
	defer buildMu.Unlock()
	restoreCache := useCache(opts.CacheDir)
	defer restoreCache()
	var res kobuild.Result
	lines, err := captureLog(opts.Log, func() error {
		b, err := kobuild.NewGo(ctx, goDir, kopts...)
		if err != nil {
			return err
		}
		if err := b.IsSupportedReference(importPath); err != nil {
			return fmt.Errorf("%s in %s: %w", path, goDir, err)
		}
		res, err = b.Build(ctx, importPath)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ko build of %s: %w%s", path, err, lastLines(lines))
	}
	img, ok := res.(v1.Image)
	if !ok {
		return nil, fmt.Errorf("ko build of %s gave %T, not an image", path, res)
	}
	return img, nil
}

// Qualify turns a main package given relative to dir ("." or "./cmd/app")
// into its import path with Scheme; a path that has Scheme is returned as
// it is (Skaffold ignores ko.main then).
func Qualify(dir, target string) (string, error) {
	if strings.HasPrefix(target, Scheme) {
		return target, nil
	}
	if target == "" {
		target = "."
	}
	pkgs, err := packages.Load(&packages.Config{Mode: packages.NeedName, Dir: dir}, target)
	if err != nil {
		return "", fmt.Errorf("finding the Go package %s in %s: %w", target, dir, err)
	}
	if len(pkgs) != 1 {
		return "", fmt.Errorf("ko.main %s in %s: want exactly one main package, found %d", target, dir, len(pkgs))
	}
	if len(pkgs[0].Errors) > 0 {
		return "", fmt.Errorf("ko.main %s in %s: %v", target, dir, pkgs[0].Errors[0])
	}
	return Scheme + pkgs[0].PkgPath, nil
}

// useCache points ko at dir through KOCACHE, the only way ko's library
// reads it, unless the environment already sets one; it returns the undo.
func useCache(dir string) func() {
	if dir == "" || os.Getenv("KOCACHE") != "" {
		return func() {}
	}
	os.Setenv("KOCACHE", dir)
	return func() { os.Unsetenv("KOCACHE") }
}

// captureLog runs fn with the standard logger, which ko writes its progress
// to, sent to logf line by line without timestamps; it returns the lines.
// ko's notes about the git work tree ("git is in a dirty state" and the
// files changed) are dropped: they only feed {{.Git}} templates in flags,
// and would list a user's uncommitted files on every build.
func captureLog(logf func(string), fn func() error) ([]string, error) {
	w := &logWriter{logf: logf}
	prevOut, prevFlags, prevPrefix := log.Writer(), log.Flags(), log.Prefix()
	log.SetOutput(w)
	log.SetFlags(0)
	log.SetPrefix("")
	err := fn()
	log.SetOutput(prevOut)
	log.SetFlags(prevFlags)
	log.SetPrefix(prevPrefix)
	return w.lines, err
}

// logWriter receives one Write per log call, so a message of several
// lines is dropped or kept whole.
type logWriter struct {
	logf  func(string)
	lines []string
}

func (w *logWriter) Write(p []byte) (int, error) {
	msg := string(p)
	if strings.HasPrefix(msg, "git ") || strings.HasPrefix(msg, "couldn't get ") || strings.HasPrefix(msg, "current folder is not a git repository") {
		return len(p), nil
	}
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			w.lines = append(w.lines, l)
			if w.logf != nil {
				w.logf(l)
			}
		}
	}
	return len(p), nil
}

func lastLines(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return " (ko: " + strings.Join(lines, " | ") + ")"
}

// errNoMain is returned for a ko artifact whose context has no Go module.
var errNoMain = errors.New("no go.mod here or above")

// moduleRoot is the directory of the go.mod that dir belongs to.
func moduleRoot(dir string) (string, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("%s: %w", dir, errNoMain)
		}
		d = parent
	}
}

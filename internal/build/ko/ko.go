package ko

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/tools/go/packages"

	"github.com/skiff-dev/skiff/internal/oci"
)

// Scheme is the prefix of image names that are Go import paths
// (ko://github.com/org/app/cmd/app), as in ko's and Skaffold's manifests.
const Scheme = "ko://"

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
	// CacheDir keeps, as ko's KOCACHE does, each main package's binary at a
	// fixed path, so that the go tool skips the link when nothing changed,
	// and the digests of its layer, so that an unchanged binary is not
	// compressed again. KOCACHE, when set, wins; empty builds without.
	CacheDir string
	// Epoch, when set, is every timestamp of the image (SOURCE_DATE_EPOCH).
	Epoch *time.Time
	// Log receives progress lines ("Building … for linux/amd64") and what
	// the go tool prints.
	Log func(string)
}

// Build compiles spec's main package with the go tool and lays it over the
// base image as ko does (see image.go); it returns the image for Platform.
func Build(ctx context.Context, spec Spec, opts Options) (v1.Image, error) {
	if opts.Registry == nil {
		opts.Registry = oci.New(oci.Options{})
	}
	if opts.Log == nil {
		opts.Log = func(string) {}
	}
	gotool, err := goTool()
	if err != nil {
		return nil, fmt.Errorf("ko build of %s in %s: %w", strings.TrimPrefix(spec.ImportPath, Scheme), spec.Dir, err)
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
	kodata, err := mainPackage(goDir, path)
	if err != nil {
		return nil, err
	}
	baseRef, err := opts.Registry.ParseReference(base)
	if err != nil {
		return nil, fmt.Errorf("ko build of %s: base image %q: %w", path, base, err)
	}
	baseImg, err := opts.Registry.Image(ctx, baseRef)
	if err != nil {
		return nil, fmt.Errorf("ko build of %s: base image: %w", path, err)
	}
	if err := checkPlatform(baseImg, baseRef.Name()); err != nil {
		return nil, fmt.Errorf("ko build of %s: %w", path, err)
	}
	cacheDir := os.Getenv("KOCACHE")
	if cacheDir == "" {
		cacheDir = opts.CacheDir
	}
	var created v1.Time
	if opts.Epoch != nil {
		created = v1.Time{Time: *opts.Epoch}
	}
	bin, err := goBuild(ctx, goInvocation{
		gotool: gotool, dir: goDir, importPath: path, cacheDir: cacheDir, created: created.Time,
		env: spec.Env, flags: spec.Flags, ldflags: spec.Ldflags, log: opts.Log,
	})
	if err != nil {
		return nil, err
	}
	defer bin.release()
	img, err := assemble(layout{
		importPath: path, base: baseImg, baseName: baseRef.Name(), binary: bin.path, kodata: kodata,
		created: created, labels: spec.Labels, cache: layerCache(cacheDir),
	})
	if err != nil {
		return nil, fmt.Errorf("ko build of %s: %w", path, err)
	}
	return img, nil
}

// goTool is the go command: KO_GO_PATH, as ko reads it, else go on PATH.
func goTool() (string, error) {
	name := "go"
	if env := os.Getenv("KO_GO_PATH"); env != "" {
		name = env
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("the go tool %q was not found: install Go (https://go.dev/dl) or set KO_GO_PATH to it", name)
	}
	return p, nil
}

// mainPackage checks that path, loaded in dir where the go tool will run,
// is a main package, and returns its kodata directory, which ko copies into
// the image.
func mainPackage(dir, path string) (string, error) {
	pkgs, err := packages.Load(&packages.Config{Mode: packages.NeedName | packages.NeedFiles, Dir: dir}, path)
	if err != nil {
		return "", fmt.Errorf("ko build of %s: finding the package in %s: %w", path, dir, err)
	}
	if len(pkgs) != 1 {
		return "", fmt.Errorf("ko build of %s in %s: want exactly one main package, found %d", path, dir, len(pkgs))
	}
	p := pkgs[0]
	if len(p.Errors) > 0 {
		return "", fmt.Errorf("ko build of %s in %s: %v", path, dir, p.Errors[0])
	}
	if p.Name != "main" {
		return "", fmt.Errorf("ko build of %s: it is package %s, not package main: point ko.main (or the ko:// image name) at a main package", path, p.Name)
	}
	if len(p.GoFiles) == 0 {
		return "", fmt.Errorf("ko build of %s: the package has no Go files for %s", path, Platform)
	}
	return filepath.Join(filepath.Dir(p.GoFiles[0]), "kodata"), nil
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

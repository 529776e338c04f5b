package build

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/skiff-dev/skiff/internal/build/ko"
	"github.com/skiff-dev/skiff/internal/config"
)

// DockerSpec is what a Dockerfile build of an artifact reads. Paths are as
// the configuration gives them (relative to the working directory, which
// the loader resolved them against); the Dockerfile is joined to the
// context when it is relative, as in Skaffold.
type DockerSpec struct {
	ContextDir, Dockerfile, Target string
	// BuildArgs are resolved once, here, for the builder, the inputDigest
	// tag policy and skiff dev alike: a value from the configuration, else
	// the environment variable of the same name when it is set; an argument
	// with neither is left out, so the Dockerfile's ARG default applies.
	BuildArgs             map[string]string
	NoCache, Reproducible bool
	// Network is a docker artifact's network: RUN steps' default.
	Network string
	// CacheRepo is a kaniko artifact's cache.repo.
	CacheRepo string
	CacheFrom []string
	Secrets   []*config.DockerSecret
	// Labels are a kaniko artifact's labels for the image config.
	Labels map[string]*string
}

// Spec returns the Dockerfile build of a: docker and kaniko artifacts, and
// custom artifacts whose dependencies name a Dockerfile (their buildCommand
// builds; skiff dev watches what that Dockerfile reads). ok is false for
// artifacts without a Dockerfile.
func Spec(a *config.Artifact) (s DockerSpec, ok bool) {
	s.ContextDir = a.Workspace
	var args map[string]*string
	switch {
	case a.DockerArtifact != nil:
		d := a.DockerArtifact
		s.Dockerfile, s.Target, args, s.NoCache = d.DockerfilePath, d.Target, d.BuildArgs, d.NoCache
		s.CacheFrom, s.Secrets, s.Network = d.CacheFrom, d.Secrets, d.NetworkMode
	case a.KanikoArtifact != nil:
		k := a.KanikoArtifact
		s.Dockerfile, s.Target, args, s.Reproducible, s.Labels = k.DockerfilePath, k.Target, k.BuildArgs, k.Reproducible, k.Label
		if k.ContextSubPath != "" {
			s.ContextDir = filepath.Join(s.ContextDir, k.ContextSubPath)
		}
		if k.Cache != nil {
			s.CacheRepo = k.Cache.Repo
		}
	case a.CustomArtifact != nil && a.CustomArtifact.Dependencies != nil && a.CustomArtifact.Dependencies.Dockerfile != nil:
		d := a.CustomArtifact.Dependencies.Dockerfile
		s.Dockerfile, args = d.Path, d.BuildArgs
	default:
		return s, false
	}
	if s.Dockerfile == "" {
		s.Dockerfile = "Dockerfile"
	}
	if !filepath.IsAbs(s.Dockerfile) {
		s.Dockerfile = filepath.Join(s.ContextDir, s.Dockerfile)
	}
	s.BuildArgs = ResolveBuildArgs(args)
	return s, true
}

// ResolveBuildArgs turns configured build args into values: a configured
// value as it is, a bare key (nil) from the environment when set, else left
// out.
func ResolveBuildArgs(args map[string]*string) map[string]string {
	out := make(map[string]string, len(args))
	for k, v := range args {
		if v != nil {
			out[k] = *v
		} else if env, ok := os.LookupEnv(k); ok {
			out[k] = env
		}
	}
	return out
}

// KoSpec returns the ko build of a ko artifact: the go tool runs in the
// context joined with ko.dir; the main package is the image name's import
// path when it starts with ko://, else ko.main (default ".") relative to
// that directory, as in Skaffold (pkg/skaffold/build/ko/build.go,
// getImportPath). ok is false for other artifacts.
func KoSpec(a *config.Artifact) (s ko.Spec, ok bool) {
	k := a.KoArtifact
	if k == nil {
		return s, false
	}
	s.Dir = filepath.Join(a.Workspace, k.Dir)
	s.ImportPath = k.Main
	if strings.HasPrefix(a.ImageName, ko.Scheme) {
		s.ImportPath = a.ImageName
	} else if s.ImportPath == "" {
		s.ImportPath = "."
	}
	s.BaseImage, s.Env, s.Flags, s.Ldflags, s.Labels = k.BaseImage, k.Env, k.Flags, k.Ldflags, k.Labels
	s.HasBuildConfig = (k.Dir != "" && k.Dir != ".") || (k.Main != "" && k.Main != ".") ||
		len(k.Env) > 0 || len(k.Flags) > 0 || len(k.Ldflags) > 0
	return s, true
}

package dev

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/patternmatcher"

	"github.com/skiff-dev/skiff/internal/build"
	"github.com/skiff-dev/skiff/internal/build/dockerfile"
	"github.com/skiff-dev/skiff/internal/config"
)

// dockerBuild is what dev needs to know about a Dockerfile build: docker
// and kaniko artifacts, and custom artifacts whose dependencies name a
// Dockerfile.
type dockerBuild struct {
	context    string // absolute
	dockerfile string // absolute
	target     string
	buildArgs  map[string]string
}

// dockerBuildOf returns the Dockerfile build of a, if it has one (see
// build.Spec). Paths in the configuration are relative to workDir.
func dockerBuildOf(workDir string, a *config.Artifact) (dockerBuild, bool) {
	spec, ok := build.Spec(a)
	if !ok {
		return dockerBuild{}, false
	}
	b := dockerBuild{
		context:    absPath(workDir, spec.ContextDir),
		dockerfile: absPath(workDir, spec.Dockerfile),
		target:     spec.Target,
		buildArgs:  map[string]string{},
	}
	// The builder passes required artifacts' references as build args
	// named by their alias; their image names stand in for them here.
	for _, d := range a.Dependencies {
		alias := d.Alias
		if alias == "" {
			alias = d.ImageName
		}
		b.buildArgs[alias] = d.ImageName
	}
	for k, v := range spec.BuildArgs {
		b.buildArgs[k] = v
	}
	return b, true
}

// ignoreFiles are the files whose presence and content decide what the
// build context excludes: <Dockerfile>.dockerignore, else .dockerignore.
func (b dockerBuild) ignoreFiles() []string {
	return []string{b.dockerfile + ".dockerignore", filepath.Join(b.context, ".dockerignore")}
}

// readContextReads parses b's Dockerfile with the builder's parser.
func readContextReads(b dockerBuild) (*dockerfile.Reads, error) {
	content, err := os.ReadFile(b.dockerfile)
	if err != nil {
		return nil, err
	}
	return dockerfile.ReadsOf(b.dockerfile, content, dockerfile.Options{Target: b.target, BuildArgs: b.buildArgs})
}

// dockerInputs are the files a Dockerfile build reads: the Dockerfile, its
// ignore file, and the context files its COPY, ADD and RUN bind mounts
// name, minus what the ignore file excludes. A Dockerfile that does not
// parse makes the whole context the input, so that whatever fixes it is
// seen.
func dockerInputs(b dockerBuild) (FileSet, error) {
	set := FileSet{Files: append([]string{b.dockerfile}, b.ignoreFiles()...)}
	patterns, _, err := dockerfile.IgnorePatterns(b.context, b.dockerfile)
	if err != nil {
		set.Trees = append(set.Trees, Tree{Dir: b.context, Base: b.context})
		return set, err
	}
	pm, err := newMatcher(patterns)
	if err != nil {
		set.Trees = append(set.Trees, Tree{Dir: b.context, Base: b.context})
		return set, err
	}
	reads, err := readContextReads(b)
	if err != nil {
		set.Trees = append(set.Trees, Tree{Dir: b.context, Base: b.context, Ignore: pm})
		return set, err
	}
	set.Add(sourceSet(b.context, reads.Sources(), pm))
	return set, nil
}

// sourceSet is the files under base that the patterns (relative to base)
// name, each being the path itself or any path below it.
func sourceSet(base string, patterns []string, ignore *patternmatcher.PatternMatcher) FileSet {
	var set FileSet
	for _, p := range patterns {
		if p == "" {
			return FileSet{Trees: []Tree{{Dir: base, Base: base, Ignore: ignore}}}
		}
	}
	for _, p := range patterns {
		static := p
		if dockerfile.HasWildcard(p) {
			var keep []string
			for _, seg := range strings.Split(p, "/") {
				if dockerfile.HasWildcard(seg) {
					break
				}
				keep = append(keep, seg)
			}
			static = strings.Join(keep, "/")
		} else if fi, err := os.Stat(filepath.Join(base, p)); err == nil && fi.Mode().IsRegular() {
			set.Files = append(set.Files, filepath.Join(base, p))
			continue
		}
		set.Trees = append(set.Trees, Tree{
			Dir:     filepath.Join(base, filepath.FromSlash(static)),
			Base:    base,
			Include: []string{p, p + "/**"},
			Ignore:  ignore,
		})
	}
	return set
}

// newMatcher compiles .dockerignore patterns; nil when there are none.
func newMatcher(patterns []string) (*patternmatcher.PatternMatcher, error) {
	if len(patterns) == 0 {
		return nil, nil
	}
	return patternmatcher.New(patterns)
}

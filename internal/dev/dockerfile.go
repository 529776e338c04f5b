package dev

import (
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
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

// copyStep is a COPY or ADD from the build context.
type copyStep struct {
	stage int
	// sources are cleaned paths or patterns relative to the context; ""
	// stands for the whole context.
	sources []string
	dest    string
	// workdir is the WORKDIR in effect, "" while the base image's applies.
	workdir string
}

// contextReads are what a Dockerfile build reads from its context.
type contextReads struct {
	plan *dockerfile.Plan
	// copies are the COPY and ADD steps of the stages the target needs, in
	// Dockerfile order.
	copies []copyStep
	// mounts are RUN --mount=type=bind sources from the context.
	mounts []string
	// chain is the target stage and the stages it is built FROM: the files
	// their steps copy are in the final image.
	chain map[int]bool
	// workdir is the target stage's last WORKDIR, "" when the chain sets
	// none (the base image's applies).
	workdir string
}

// readContextReads parses b's Dockerfile with the builder's parser.
func readContextReads(b dockerBuild) (*contextReads, error) {
	content, err := os.ReadFile(b.dockerfile)
	if err != nil {
		return nil, err
	}
	plan, err := dockerfile.Parse(b.dockerfile, content, dockerfile.Options{Target: b.target, BuildArgs: b.buildArgs})
	if err != nil {
		return nil, err
	}
	r := &contextReads{plan: plan, chain: map[int]bool{}}
	for i := plan.Target; i >= 0; i = plan.Stages[i].FromStage {
		r.chain[i] = true
	}
	lex := shell.NewLex(plan.Escape)
	envs := make([]dockerfile.Env, len(plan.Stages))
	workdirs := make([]string, len(plan.Stages))
	for i, st := range plan.Stages {
		env := dockerfile.Env(plan.GlobalArgs)
		wd := ""
		if st.FromStage >= 0 {
			for _, kv := range envs[st.FromStage] {
				env = env.With(kv.Key, kv.Value)
			}
			wd = workdirs[st.FromStage]
		}
		expand := func(w string) (string, error) {
			res, _, err := lex.ProcessWord(w, env)
			return res, err
		}
		for _, c := range st.Commands {
			if a, ok := c.(*instructions.ArgCommand); ok {
				for _, kv := range a.Args {
					if v, ok := b.buildArgs[kv.Key]; ok {
						env = env.With(kv.Key, v)
					} else if kv.Value != nil {
						v, _ := expand(*kv.Value)
						env = env.With(kv.Key, v)
					}
				}
				continue
			}
			// As the builder does: words are expanded with the ARG and ENV
			// values in effect (RUN --mount flags are parsed then too).
			if ex, ok := c.(instructions.SupportsSingleWordExpansion); ok {
				_ = ex.Expand(expand)
			}
			switch c := c.(type) {
			case *instructions.EnvCommand:
				for _, kv := range c.Env {
					env = env.With(kv.Key, kv.Value)
				}
			case *instructions.WorkdirCommand:
				if path.IsAbs(c.Path) || wd != "" {
					wd = path.Clean(path.Join("/", wd, c.Path))
				} else {
					wd = path.Clean(c.Path)
				}
			case *instructions.CopyCommand:
				if c.From == "" && st.Needed {
					r.addCopy(i, c.SourcesAndDest, wd)
				}
			case *instructions.AddCommand:
				if st.Needed {
					r.addCopy(i, c.SourcesAndDest, wd)
				}
			case *instructions.RunCommand:
				if !st.Needed {
					continue
				}
				for _, m := range instructions.GetMounts(c) {
					if m.Type == instructions.MountTypeBind && m.From == "" {
						if s, ok := cleanSource(m.Source); ok {
							r.mounts = append(r.mounts, s)
						}
					}
				}
			}
		}
		envs[i], workdirs[i] = env, wd
	}
	r.workdir = workdirs[plan.Target]
	return r, nil
}

func (r *contextReads) addCopy(stage int, sd instructions.SourcesAndDest, wd string) {
	step := copyStep{stage: stage, workdir: wd, dest: sd.DestPath}
	for _, src := range sd.SourcePaths {
		if isRemote(src) {
			continue
		}
		if s, ok := cleanSource(src); ok {
			step.sources = append(step.sources, s)
		}
	}
	if len(step.sources) > 0 {
		r.copies = append(r.copies, step)
	}
}

// isRemote reports whether an ADD source is a URL or a git repository.
func isRemote(src string) bool {
	return strings.Contains(src, "://") || strings.HasPrefix(src, "git@")
}

// cleanSource makes a COPY source relative to the context as the builder
// does; a source that climbs out of the context is dropped (the build
// fails on it anyway).
func cleanSource(src string) (string, bool) {
	p := path.Clean(strings.TrimLeft(src, "/"))
	if p == "." {
		return "", true
	}
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", false
	}
	return p, true
}

// hasWildcard reports whether a COPY source is a pattern.
func hasWildcard(s string) bool { return strings.ContainsAny(s, "*?[\\") }

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
	var sources []string
	for _, c := range reads.copies {
		sources = append(sources, c.sources...)
	}
	sources = append(sources, reads.mounts...)
	set.Add(sourceSet(b.context, sources, pm))
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
		if hasWildcard(p) {
			var keep []string
			for _, seg := range strings.Split(p, "/") {
				if hasWildcard(seg) {
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

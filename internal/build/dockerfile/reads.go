package dockerfile

import (
	"path"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// CopyStep is a COPY or ADD from the build context.
type CopyStep struct {
	Stage int
	// Sources are cleaned paths or patterns relative to the context; ""
	// stands for the whole context.
	Sources []string
	Dest    string
	// Workdir is the WORKDIR in effect, "" while the base image's applies.
	Workdir string
}

// Reads are what a build of a Dockerfile reads from its context: what
// `skiff dev` watches and infers sync rules from, and what a cluster build
// sends into its pod.
type Reads struct {
	Plan *Plan
	// Copies are the COPY and ADD steps of the stages the target needs, in
	// Dockerfile order.
	Copies []CopyStep
	// Mounts are RUN --mount=type=bind sources from the context.
	Mounts []string
	// Chain is the target stage and the stages it is built FROM: the files
	// their steps copy are in the final image.
	Chain map[int]bool
	// Workdir is the target stage's last WORKDIR, "" when the chain sets
	// none (the base image's applies).
	Workdir string
}

// ReadsOf parses a Dockerfile with the builder's parser and options and
// returns what the stages the target needs read from the context. Words
// are expanded as the builder expands them, with the ARG and ENV values in
// effect (so `COPY ${DIR}/x` names what the build copies).
func ReadsOf(file string, content []byte, opts Options) (*Reads, error) {
	plan, err := Parse(file, content, opts)
	if err != nil {
		return nil, err
	}
	r := &Reads{Plan: plan, Chain: map[int]bool{}}
	for i := plan.Target; i >= 0; i = plan.Stages[i].FromStage {
		r.Chain[i] = true
	}
	lex := shell.NewLex(plan.Escape)
	envs := make([]Env, len(plan.Stages))
	workdirs := make([]string, len(plan.Stages))
	for i, st := range plan.Stages {
		env := Env(plan.GlobalArgs)
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
					if v, ok := opts.BuildArgs[kv.Key]; ok {
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
						if s, ok := CleanSource(m.Source); ok {
							r.Mounts = append(r.Mounts, s)
						}
					}
				}
			}
		}
		envs[i], workdirs[i] = env, wd
	}
	r.Workdir = workdirs[plan.Target]
	return r, nil
}

func (r *Reads) addCopy(stage int, sd instructions.SourcesAndDest, wd string) {
	step := CopyStep{Stage: stage, Workdir: wd, Dest: sd.DestPath}
	for _, src := range sd.SourcePaths {
		if isRemote(src) {
			continue
		}
		if s, ok := CleanSource(src); ok {
			step.Sources = append(step.Sources, s)
		}
	}
	if len(step.Sources) > 0 {
		r.Copies = append(r.Copies, step)
	}
}

// Sources are every context path or pattern the build reads: COPY and ADD
// sources and RUN bind-mount sources; "" is the whole context.
func (r *Reads) Sources() []string {
	var out []string
	for _, c := range r.Copies {
		out = append(out, c.Sources...)
	}
	return append(out, r.Mounts...)
}

// isRemote reports whether an ADD source is a URL or a git repository.
func isRemote(src string) bool {
	return strings.Contains(src, "://") || strings.HasPrefix(src, "git@")
}

// CleanSource makes a COPY source relative to the context as the builder
// does; a source that climbs out of the context is dropped (the build
// fails on it anyway).
func CleanSource(src string) (string, bool) {
	p := path.Clean(strings.TrimLeft(src, "/"))
	if p == "." {
		return "", true
	}
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", false
	}
	return p, true
}

// HasWildcard reports whether a COPY source is a pattern.
func HasWildcard(s string) bool { return strings.ContainsAny(s, "*?[\\") }

// SourceMatcher tells which context paths a set of sources (cleaned, as
// CleanSource gives them) names: each source's path itself and everything
// below it, a pattern's matches and everything below them.
type SourceMatcher struct {
	all     bool
	sources []string
}

// NewSourceMatcher matches the given sources.
func NewSourceMatcher(sources []string) *SourceMatcher {
	m := &SourceMatcher{}
	m.Add(sources...)
	return m
}

// Add adds sources; "" makes every path match.
func (m *SourceMatcher) Add(sources ...string) {
	for _, s := range sources {
		if s == "" {
			m.all = true
		}
		m.sources = append(m.sources, s)
	}
}

// All reports whether the whole context is a source.
func (m *SourceMatcher) All() bool { return m.all }

// Matches reports whether rel (relative to the context, slash separated)
// is a source or below one.
func (m *SourceMatcher) Matches(rel string) bool {
	if m.all {
		return true
	}
	for _, s := range m.sources {
		if !HasWildcard(s) {
			if rel == s || strings.HasPrefix(rel, s+"/") {
				return true
			}
			continue
		}
		if ok, _ := doublestar.Match(s, rel); ok {
			return true
		}
		if ok, _ := doublestar.Match(s+"/**", rel); ok {
			return true
		}
	}
	return false
}

// MayHold reports whether the directory rel can hold a source: it is an
// ancestor of one, or inside the fixed part of a pattern.
func (m *SourceMatcher) MayHold(dir string) bool {
	if m.all {
		return true
	}
	for _, s := range m.sources {
		static := s
		if HasWildcard(s) {
			var keep []string
			for _, seg := range strings.Split(s, "/") {
				if HasWildcard(seg) {
					break
				}
				keep = append(keep, seg)
			}
			static = strings.Join(keep, "/")
			if static == "" || dir == static || strings.HasPrefix(dir, static+"/") {
				return true
			}
		}
		if strings.HasPrefix(static, dir+"/") {
			return true
		}
	}
	return false
}

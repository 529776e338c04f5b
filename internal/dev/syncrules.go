package dev

import (
	"path"
	"path/filepath"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/moby/patternmatcher"

	"github.com/skiff-dev/skiff/internal/build/dockerfile"
	"github.com/skiff-dev/skiff/internal/config"
)

// syncRules map an artifact's changed files to paths in its containers.
// Container paths are absolute, or relative to the container's working
// directory (a manual rule with a relative dest, as in Skaffold, or an
// inferred COPY before any WORKDIR): the copy runs in that directory.
type syncRules struct {
	context string // absolute
	manual  []*config.SyncRule
	// infer are the sync.infer patterns, relative to the context.
	infer []string
	// copies are the COPY and ADD steps whose files end up in the final
	// image (the target stage and the stages it is built FROM).
	copies []dockerfile.CopyStep
	// workdir is the final image's WORKDIR as the Dockerfile sets it: ""
	// (the base image's), relative to the base image's, or absolute.
	workdir string
	ignore  *patternmatcher.PatternMatcher
}

// newSyncRules reads a's sync section; nil when it has none. Infer needs
// the Dockerfile: when it does not parse, no file is inferred (changes
// rebuild) and the error says why.
func newSyncRules(workDir string, a *config.Artifact) (*syncRules, error) {
	s := a.Sync
	if s == nil || (len(s.Manual) == 0 && len(s.Infer) == 0) {
		return nil, nil
	}
	r := &syncRules{context: absPath(workDir, a.Workspace), manual: s.Manual}
	if len(s.Infer) == 0 {
		return r, nil
	}
	b, ok := dockerBuildOf(workDir, a)
	if !ok {
		return r, nil
	}
	r.context = b.context
	r.infer = s.Infer
	if patterns, _, err := dockerfile.IgnorePatterns(b.context, b.dockerfile); err == nil {
		r.ignore, _ = newMatcher(patterns)
	}
	reads, err := readContextReads(b)
	if err != nil {
		return r, err
	}
	for _, c := range reads.Copies {
		if reads.Chain[c.Stage] {
			r.copies = append(r.copies, c)
		}
	}
	r.workdir = reads.Workdir
	return r, nil
}

// destinations are the container paths the file p (absolute) is synced
// to; none when no rule covers it.
func (r *syncRules) destinations(p string) []string {
	if r == nil {
		return nil
	}
	rel, ok := relSlash(r.context, p)
	if !ok || rel == "." {
		return nil
	}
	var out []string
	for _, m := range r.manual {
		if ok, _ := doublestar.Match(filepath.ToSlash(m.Src), rel); !ok {
			continue
		}
		out = append(out, path.Clean(path.Join(m.Dest, strings.TrimPrefix(rel, m.Strip))))
	}
	if len(r.infer) > 0 && r.inferred(rel) {
		for _, c := range r.copies {
			for _, d := range stepDestinations(c, rel) {
				out = append(out, r.inContainer(d))
			}
		}
	}
	return dedupe(out)
}

func (r *syncRules) inferred(rel string) bool {
	if r.ignore != nil {
		if m, _ := r.ignore.MatchesOrParentMatches(rel); m {
			return false
		}
	}
	for _, pat := range r.infer {
		if ok, _ := doublestar.Match(pat, rel); ok {
			return true
		}
	}
	return false
}

// stepDestinations are where the step c puts the context file rel (slash
// separated), following COPY's rules: a directory source copies its
// contents, a file source goes to dest, or into dest when dest is a
// directory (a trailing slash, several sources, or a wildcard).
func stepDestinations(c dockerfile.CopyStep, rel string) []string {
	file := strings.Split(rel, "/")
	dirDest := strings.HasSuffix(c.Dest, "/") || c.Dest == "." || len(c.Sources) > 1
	var out []string
	for _, src := range c.Sources {
		var d string
		switch {
		case src == "":
			d = path.Join(c.Dest, rel)
		default:
			pat := strings.Split(src, "/")
			if len(file) < len(pat) || !segmentsMatch(pat, file) {
				continue
			}
			switch {
			case len(file) > len(pat):
				d = path.Join(c.Dest, strings.Join(file[len(pat):], "/"))
			case dirDest || dockerfile.HasWildcard(src):
				d = path.Join(c.Dest, file[len(file)-1])
			default:
				d = c.Dest
			}
		}
		if !path.IsAbs(d) && c.Workdir != "" {
			d = path.Join(c.Workdir, d)
		}
		out = append(out, path.Clean(d))
	}
	return out
}

// segmentsMatch reports whether the first len(pat) segments of file match
// pat's segments, each with path.Match as the builder matches COPY sources.
func segmentsMatch(pat, file []string) bool {
	for i, p := range pat {
		if ok, _ := path.Match(p, file[i]); !ok {
			return false
		}
	}
	return true
}

func dedupe(list []string) []string {
	seen := map[string]bool{}
	out := list[:0]
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// roots are the directories manual rules' src patterns can match in: a
// manual rule may cover files the build does not read.
func (r *syncRules) roots() []WatchRoot {
	var roots []WatchRoot
	for _, m := range r.manual {
		base, pattern := doublestar.SplitPattern(filepath.ToSlash(m.Src))
		if base == "." {
			base = ""
		}
		dir := filepath.Join(r.context, filepath.FromSlash(base))
		roots = append(roots, WatchRoot{Dir: existingDir(dir, r.context), Recursive: strings.Contains(pattern, "/") || strings.Contains(pattern, "**")})
	}
	return roots
}

// inContainer turns an inferred destination into one the copy can use: a
// relative one is relative to the base image's working directory (the
// Dockerfile set none before the COPY), and the copy runs in the final
// image's. They are the same unless the Dockerfile sets a WORKDIR later;
// then a destination below it is made relative to it, and otherwise the
// base image's is taken to be Docker's default, /.
func (r *syncRules) inContainer(d string) string {
	if path.IsAbs(d) || r.workdir == "" {
		return d
	}
	if !path.IsAbs(r.workdir) {
		if rel, ok := strings.CutPrefix(d, r.workdir+"/"); ok {
			return rel
		}
	}
	return "/" + d
}

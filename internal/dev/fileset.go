package dev

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/moby/patternmatcher"
)

// FileSet is a set of files described the way builds and renders read
// them: directory trees (minus ignore patterns, optionally limited to
// include patterns), single files, and globs. Paths are absolute.
type FileSet struct {
	Trees []Tree
	Files []string
	// Globs are absolute doublestar patterns (manifests.rawYaml).
	Globs []string
}

// Tree is the files under Dir that are not ignored and, when Include is
// set, match one of its patterns.
type Tree struct {
	// Dir is watched recursively.
	Dir string
	// Base is the directory Include and Ignore patterns are relative to (the
	// build context); Dir is Base or below it.
	Base string
	// Include are doublestar patterns relative to Base with slashes; nil
	// means every file.
	Include []string
	// Ignore are .dockerignore patterns relative to Base.
	Ignore *patternmatcher.PatternMatcher
}

// Contains reports whether the absolute path p is in the set.
func (s *FileSet) Contains(p string) bool {
	for i := range s.Trees {
		if s.Trees[i].Contains(p) {
			return true
		}
	}
	for _, f := range s.Files {
		if f == p {
			return true
		}
	}
	for _, g := range s.Globs {
		if ok, _ := doublestar.Match(filepath.ToSlash(g), filepath.ToSlash(p)); ok {
			return true
		}
	}
	return false
}

// Add appends other's members to s.
func (s *FileSet) Add(other FileSet) {
	s.Trees = append(s.Trees, other.Trees...)
	s.Files = append(s.Files, other.Files...)
	s.Globs = append(s.Globs, other.Globs...)
}

// Contains reports whether the absolute path p is in the tree.
func (t *Tree) Contains(p string) bool {
	if !within(t.Dir, p) {
		return false
	}
	rel, ok := relSlash(t.Base, p)
	if !ok {
		return false
	}
	if t.ignored(rel) {
		return false
	}
	if t.Include == nil {
		return true
	}
	for _, inc := range t.Include {
		if ok, _ := doublestar.Match(inc, rel); ok {
			return true
		}
	}
	return false
}

func (t *Tree) ignored(rel string) bool {
	if t.Ignore == nil || rel == "." {
		return false
	}
	m, _ := t.Ignore.MatchesOrParentMatches(rel)
	return m
}

// skipDir reports whether no file under the directory dir can be in the
// tree, so that it need not be watched: it is ignored and no exclusion
// pattern (!pattern) can bring a file below it back.
func (t *Tree) skipDir(dir string) bool {
	rel, ok := relSlash(t.Base, dir)
	if !ok || rel == "." {
		return false
	}
	return t.ignored(rel) && !t.Ignore.Exclusions()
}

// Roots are the directories to watch for the set: every tree recursively,
// the directories of single files and the static part of globs.
func (s *FileSet) Roots() []WatchRoot {
	var roots []WatchRoot
	for i := range s.Trees {
		t := s.Trees[i]
		roots = append(roots, WatchRoot{Dir: existingDir(t.Dir, t.Base), Recursive: true, Skip: t.skipDir})
	}
	for _, f := range s.Files {
		roots = append(roots, WatchRoot{Dir: existingDir(filepath.Dir(f), "")})
	}
	for _, g := range s.Globs {
		base, pattern := doublestar.SplitPattern(filepath.ToSlash(g))
		roots = append(roots, WatchRoot{Dir: existingDir(filepath.FromSlash(base), ""), Recursive: strings.Contains(pattern, "/") || strings.Contains(pattern, "**")})
	}
	return roots
}

// existingDir is dir, or its closest existing ancestor (not above stop when
// stop is set), so that a directory created later is still noticed.
func existingDir(dir, stop string) string {
	for {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir || (stop != "" && dir == stop) {
			return dir
		}
		dir = parent
	}
}

// within reports whether p is dir or below it.
func within(dir, p string) bool {
	if p == dir {
		return true
	}
	return strings.HasPrefix(p, strings.TrimSuffix(dir, string(filepath.Separator))+string(filepath.Separator))
}

// relSlash is p relative to base with forward slashes; ok is false when p
// is not below base.
func relSlash(base, p string) (string, bool) {
	rel, err := filepath.Rel(base, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// absPath makes p absolute against dir (the project's working directory).
func absPath(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

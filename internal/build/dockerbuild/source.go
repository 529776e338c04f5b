package dockerbuild

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/moby/patternmatcher"
)

// source is a tree COPY and ADD read from: the build context (with
// .dockerignore applied, ownership reset to root, and symlinks that leave
// it refused) or another stage's or image's root filesystem (where
// symlinks resolve inside that root, as they would at run time).
type source struct {
	root    string
	ignore  *patternmatcher.PatternMatcher
	context bool // the build context: escaping symlinks are errors

	mu     sync.Mutex
	hashes map[string]string
}

func newContextSource(dir string, patterns []string) (*source, error) {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("build context %s: %w", dir, err)
	}
	s := &source{root: root, context: true, hashes: map[string]string{}}
	if len(patterns) > 0 {
		if s.ignore, err = patternmatcher.New(patterns); err != nil {
			return nil, fmt.Errorf("parsing .dockerignore: %w", err)
		}
	}
	return s, nil
}

func newRootSource(root string) *source {
	return &source{root: root, hashes: map[string]string{}}
}

// errEscapes reports a context path that leaves the context.
var errEscapes = errors.New("outside the build context")

// excluded reports whether rel is hidden by .dockerignore.
func (s *source) excluded(rel string) bool {
	if s.ignore == nil || rel == "" {
		return false
	}
	m, err := s.ignore.MatchesOrParentMatches(rel)
	return err == nil && m
}

// keepDir reports whether an excluded directory must still be walked
// because an exception pattern (!dir/file) may re-include something in it.
func (s *source) keepDir(rel string) bool {
	if s.ignore == nil || !s.ignore.Exclusions() {
		return false
	}
	for _, p := range s.ignore.Patterns() {
		if p.Exclusion() && strings.HasPrefix(p.String()+"/", rel+"/") {
			return true
		}
	}
	return false
}

// cleanSource turns a COPY source into a path relative to the source root,
// refusing ".." that climbs out of the build context.
func (s *source) cleanSource(src string) (string, error) {
	p := path.Clean(strings.TrimLeft(src, "/"))
	if p == "." {
		return "", nil
	}
	if p == ".." || strings.HasPrefix(p, "../") {
		if s.context {
			return "", errEscapes
		}
		p = strings.TrimLeft(path.Clean("/"+p), "/")
	}
	return p, nil
}

// resolve follows symlinks in rel inside the root and returns the path
// they lead to, relative to the root.
func (s *source) resolve(rel string) (string, error) {
	parts := splitPath(rel)
	cur := ""
	links := 0
	for i := 0; i < len(parts); i++ {
		next := path.Join(cur, parts[i])
		fi, err := os.Lstat(filepath.Join(s.root, next))
		if err != nil {
			return next, err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if links++; links > 255 {
			return next, errors.New("too many levels of symbolic links")
		}
		target, err := os.Readlink(filepath.Join(s.root, next))
		if err != nil {
			return next, err
		}
		var np string
		switch {
		case path.IsAbs(target) && s.context:
			return next, fmt.Errorf("symlink %s -> %s points %w", next, target, errEscapes)
		case path.IsAbs(target):
			np = path.Clean(target)
		default:
			np = path.Join(cur, target)
			if np == ".." || strings.HasPrefix(np, "../") {
				if s.context {
					return next, fmt.Errorf("symlink %s -> %s points %w", next, target, errEscapes)
				}
				np = path.Clean("/" + np)
			}
		}
		parts = append(splitPath(strings.TrimLeft(np, "/")), parts[i+1:]...)
		cur, i = "", -1
	}
	return cur, nil
}

func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" && s != "." {
			out = append(out, s)
		}
	}
	return out
}

func hasWildcard(s string) bool { return strings.ContainsAny(s, "*?[\\") }

// match expands a source pattern to the paths it names, sorted. A pattern
// without wildcards names one path, which must exist; a wildcard that
// matches nothing is not an error (as in BuildKit).
func (s *source) match(src string) ([]string, error) {
	rel, err := s.cleanSource(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	if !hasWildcard(rel) {
		if s.excluded(rel) {
			return nil, fmt.Errorf("%s: not found (excluded by .dockerignore)", src)
		}
		return []string{rel}, nil
	}
	results := []string{""}
	for _, part := range splitPath(rel) {
		var next []string
		for _, base := range results {
			if !hasWildcard(part) {
				next = append(next, path.Join(base, part))
				continue
			}
			dir, err := s.resolve(base)
			if err != nil {
				if errors.Is(err, errEscapes) {
					return nil, fmt.Errorf("%s: %w", src, err)
				}
				continue
			}
			ents, err := os.ReadDir(filepath.Join(s.root, dir))
			if err != nil {
				continue
			}
			for _, e := range ents {
				if ok, _ := path.Match(part, e.Name()); ok && !s.excluded(path.Join(base, e.Name())) {
					next = append(next, path.Join(base, e.Name()))
				}
			}
		}
		results = next
	}
	var out []string
	for _, r := range results {
		if _, err := os.Lstat(filepath.Join(s.root, r)); err == nil {
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return out, nil
}

// entry is one file of a copy, relative to the copied path.
type entry struct {
	rel  string // "" for the copied path itself
	host string
	fi   fs.FileInfo
}

// item is one matched source: its name and everything below it.
type item struct {
	name    string // matched name; its base names the destination file
	host    string // host path after following symlinks
	isDir   bool
	entries []entry // sorted; entries[0] is the item itself
	// remote is a file ADD downloaded: never unpacked, as in Docker.
	remote bool
}

// collect resolves a matched path and lists what it contains.
func (s *source) collect(name string) (item, error) {
	resolved, err := s.resolve(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return item{}, fmt.Errorf("%s: not found", displayName(name))
		}
		return item{}, fmt.Errorf("%s: %w", displayName(name), err)
	}
	if s.excluded(resolved) {
		return item{}, fmt.Errorf("%s: not found (excluded by .dockerignore)", displayName(name))
	}
	host := filepath.Join(s.root, resolved)
	fi, err := os.Lstat(host)
	if err != nil {
		return item{}, err
	}
	it := item{name: name, host: host, isDir: fi.IsDir(), entries: []entry{{rel: "", host: host, fi: fi}}}
	if !fi.IsDir() {
		return it, nil
	}
	err = s.walk(resolved, host, "", &it.entries)
	return it, err
}

func (s *source) walk(rel, host, sub string, out *[]entry) error {
	ents, err := os.ReadDir(host)
	if err != nil {
		return err
	}
	for _, e := range ents { // ReadDir sorts by name
		crel := path.Join(rel, e.Name())
		chost := filepath.Join(host, e.Name())
		csub := path.Join(sub, e.Name())
		fi, err := e.Info()
		if err != nil {
			return err
		}
		if s.excluded(crel) {
			if fi.IsDir() && s.keepDir(crel) {
				n := len(*out)
				*out = append(*out, entry{rel: csub, host: chost, fi: fi})
				if err := s.walk(crel, chost, csub, out); err != nil {
					return err
				}
				if len(*out) == n+1 {
					*out = (*out)[:n] // nothing re-included below it
				}
			}
			continue
		}
		*out = append(*out, entry{rel: csub, host: chost, fi: fi})
		if fi.IsDir() {
			if err := s.walk(crel, chost, csub, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// hash returns the sha256 of a regular file's content, once per build.
func (s *source) hash(host string) (string, error) {
	s.mu.Lock()
	h, ok := s.hashes[host]
	s.mu.Unlock()
	if ok {
		return h, nil
	}
	f, err := os.Open(host)
	if err != nil {
		return "", err
	}
	defer f.Close()
	d := sha256.New()
	if _, err := io.Copy(d, f); err != nil {
		return "", err
	}
	h = fmt.Sprintf("%x", d.Sum(nil))
	s.mu.Lock()
	s.hashes[host] = h
	s.mu.Unlock()
	return h, nil
}

func displayName(rel string) string {
	if rel == "" {
		return "."
	}
	return rel
}

package snapshot

import (
	"path/filepath"
	"sort"

	"github.com/skiff-dev/skiff/internal/oci"
)

// Protected is the set of host paths in an in-place tree that belong to
// the container skiff runs in, not to the image being built: its mounts,
// skiff's own files, the build context. In-place snapshots never unpack
// over them, delete them or record them.
type Protected struct {
	paths     map[string]bool
	ancestors map[string]bool
}

// NewProtected protects the given absolute paths and everything below
// them. Existing paths are protected under their real name as well, so a
// symlink cannot hide one.
func NewProtected(paths ...string) *Protected {
	p := &Protected{paths: map[string]bool{}, ancestors: map[string]bool{}}
	for _, q := range paths {
		if q == "" || !filepath.IsAbs(q) {
			continue
		}
		p.add(filepath.Clean(q))
		if real, err := filepath.EvalSymlinks(q); err == nil {
			p.add(real)
		}
	}
	return p
}

func (p *Protected) add(q string) {
	p.paths[q] = true
	for d := filepath.Dir(q); ; d = filepath.Dir(d) {
		p.ancestors[d] = true
		if d == "/" || d == "." {
			break
		}
	}
}

// Check says how a host path (absolute, clean) relates to the set.
func (p *Protected) Check(path string) oci.Protection {
	if p == nil {
		return oci.Unprotected
	}
	for d := path; ; d = filepath.Dir(d) {
		if p.paths[d] {
			return oci.Protected
		}
		if d == "/" || d == "." {
			break
		}
	}
	if p.ancestors[path] {
		return oci.ContainsProtected
	}
	return oci.Unprotected
}

// entry is Check for a path whose parent is known not to be protected.
func (p *Protected) entry(path string) oci.Protection {
	switch {
	case p == nil:
		return oci.Unprotected
	case p.paths[path]:
		return oci.Protected
	case p.ancestors[path]:
		return oci.ContainsProtected
	}
	return oci.Unprotected
}

// Paths lists the protected paths, sorted.
func (p *Protected) Paths() []string {
	out := make([]string, 0, len(p.paths))
	for q := range p.paths {
		out = append(out, q)
	}
	sort.Strings(out)
	return out
}

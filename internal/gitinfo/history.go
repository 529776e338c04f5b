package gitinfo

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// ErrShallow is returned by History for a shallow clone: what its history
// does not hold cannot be told apart from what no branch reaches.
var ErrShallow = errors.New("the checkout is a shallow clone")

// History is what the repository's branches and tags still reach, for
// deciding which images built from commits are still wanted: every tagged
// commit, and the newest commits (first parents) of each branch that is not
// merged into the default branch, the default branch included.
type History struct {
	// DefaultBranch is the branch the others merge into.
	DefaultBranch string
	// kept maps a commit to why it is wanted ("last 3 of feature/x").
	kept map[string]string
	// commits are every commit any ref reaches, sorted, for resolving
	// abbreviated hashes.
	commits []string
	// tags maps tag names to the commits they point at.
	tags map[string]string
	// merged lists the branches whose head the default branch reaches.
	merged []string
}

// History walks every branch (local and remote-tracking) and tag. keep is
// how many of each live branch's newest commits stay wanted (at least 1).
// defaultBranch names the branch others merge into ("" finds it:
// origin/HEAD, else main, else master). A shallow clone is refused with
// ErrShallow.
func (r *Repo) History(keep int, defaultBranch string) (*History, error) {
	if keep < 1 {
		keep = 1
	}
	shallow, err := r.repo.Storer.Shallow()
	if err != nil {
		return nil, fmt.Errorf("reading shallow commits: %w", err)
	}
	if len(shallow) > 0 {
		return nil, fmt.Errorf("%w (%d shallow commits): fetch the whole history of every branch first (GitLab: GIT_DEPTH=0; GitHub: actions/checkout with fetch-depth: 0)", ErrShallow, len(shallow))
	}
	branches, err := r.branchHeads()
	if err != nil {
		return nil, err
	}
	if defaultBranch == "" {
		defaultBranch = r.defaultBranch(branches)
	}
	h := &History{DefaultBranch: defaultBranch, kept: map[string]string{}, tags: map[string]string{}}
	byCommit, err := r.tagsByCommit()
	if err != nil {
		return nil, fmt.Errorf("reading tags: %w", err)
	}
	for c, names := range byCommit {
		for _, n := range names {
			h.tags[n] = c.String()
		}
		h.kept[c.String()] = "tagged " + names[0]
	}
	all := map[plumbing.Hash]bool{}
	var inDefault map[plumbing.Hash]bool
	if head, ok := branches[defaultBranch]; ok {
		if inDefault, err = r.reachable(head, all); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(branches))
	for n := range branches {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		head := branches[n]
		if _, err := r.reachable(head, all); err != nil {
			return nil, err
		}
		if n != defaultBranch && inDefault[head] {
			h.merged = append(h.merged, n)
			continue
		}
		if err := r.keepNewest(h, head, keep, n); err != nil {
			return nil, err
		}
	}
	for c := range all {
		h.commits = append(h.commits, c.String())
	}
	sort.Strings(h.commits)
	return h, nil
}

// branchHeads maps branch names to their head commits: local branches by
// name, remote-tracking ones as remote/name. Symbolic refs are skipped.
func (r *Repo) branchHeads() (map[string]plumbing.Hash, error) {
	refs, err := r.repo.References()
	if err != nil {
		return nil, fmt.Errorf("reading refs: %w", err)
	}
	out := map[string]plumbing.Hash{}
	err = refs.ForEach(func(ref *plumbing.Reference) error {
		if ref.Type() != plumbing.HashReference {
			return nil
		}
		n := ref.Name()
		if n.IsBranch() || (n.IsRemote() && !strings.HasSuffix(n.String(), "/HEAD")) {
			out[n.Short()] = ref.Hash()
		}
		return nil
	})
	return out, err
}

// defaultBranch is origin/HEAD's target, else main, else master (local or
// on origin).
func (r *Repo) defaultBranch(branches map[string]plumbing.Hash) string {
	if ref, err := r.repo.Reference(plumbing.NewRemoteHEADReferenceName("origin"), false); err == nil && ref.Type() == plumbing.SymbolicReference {
		return ref.Target().Short()
	}
	for _, n := range []string{"main", "origin/main", "master", "origin/master"} {
		if _, ok := branches[n]; ok {
			return n
		}
	}
	return ""
}

// reachable adds every commit reachable from head to all and returns the
// set reachable from head.
func (r *Repo) reachable(head plumbing.Hash, all map[plumbing.Hash]bool) (map[plumbing.Hash]bool, error) {
	c, err := r.repo.CommitObject(head)
	if err != nil {
		return nil, fmt.Errorf("reading commit %s: %w", head, err)
	}
	seen := map[plumbing.Hash]bool{}
	err = object.NewCommitPreorderIter(c, nil, nil).ForEach(func(c *object.Commit) error {
		seen[c.Hash] = true
		all[c.Hash] = true
		return nil
	})
	return seen, err
}

// keepNewest marks the newest keep first-parent commits of branch as kept.
func (r *Repo) keepNewest(h *History, head plumbing.Hash, keep int, branch string) error {
	c, err := r.repo.CommitObject(head)
	if err != nil {
		return fmt.Errorf("reading commit %s of %s: %w", head, branch, err)
	}
	for i := 0; i < keep && c != nil; i++ {
		if _, ok := h.kept[c.Hash.String()]; !ok {
			h.kept[c.Hash.String()] = fmt.Sprintf("among the last %d commits of %s", keep, branch)
		}
		if c.NumParents() == 0 {
			break
		}
		if c, err = c.Parent(0); err != nil && !errors.Is(err, storer.ErrStop) {
			return fmt.Errorf("reading the history of %s: %w", branch, err)
		}
	}
	return nil
}

// Merged lists the branches whose head the default branch reaches.
func (h *History) Merged() []string { return h.merged }

// TagCommit returns the commit a tag points at.
func (h *History) TagCommit(tag string) (string, bool) {
	c, ok := h.tags[tag]
	return c, ok
}

// Tags lists every tag name.
func (h *History) Tags() []string {
	out := make([]string, 0, len(h.tags))
	for t := range h.tags {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Resolve finds the commit an (abbreviated, at least 7 digits) hash names.
// known is false when no ref reaches such a commit; reason says why a
// known commit is still wanted, "" when it is not. A prefix several commits
// share counts as wanted, since which one it names cannot be told.
func (h *History) Resolve(prefix string) (commit, reason string, known bool) {
	prefix = strings.ToLower(prefix)
	if len(prefix) < 7 || len(prefix) > 40 {
		return "", "", false
	}
	i := sort.SearchStrings(h.commits, prefix)
	if i == len(h.commits) || !strings.HasPrefix(h.commits[i], prefix) {
		return "", "", false
	}
	if i+1 < len(h.commits) && strings.HasPrefix(h.commits[i+1], prefix) {
		return "", "abbreviated hash " + prefix + " matches several commits", true
	}
	c := h.commits[i]
	return c, h.kept[c], true
}

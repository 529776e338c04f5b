package gitinfo

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ErrNotRepository is returned when a directory is not in a git work tree.
var ErrNotRepository = errors.New("not a git repository")

// Repo is an open repository.
type Repo struct {
	repo *git.Repository
	root string
}

// Open opens the repository containing dir.
func Open(dir string) (*Repo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	r, err := git.PlainOpenWithOptions(abs, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNotRepository)
	}
	if err != nil {
		return nil, fmt.Errorf("opening git repository at %s: %w", dir, err)
	}
	wt, err := r.Worktree()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	root := wt.Filesystem.Root()
	if real, err := filepath.EvalSymlinks(root); err == nil {
		root = real
	}
	return &Repo{repo: r, root: root}, nil
}

// Root is the work tree's top directory.
func (r *Repo) Root() string { return r.root }

// Rel returns dir relative to the work tree root, in slash form ("" for
// the root itself).
func (r *Repo) Rel(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	rel, err := filepath.Rel(r.root, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("%s is outside the repository at %s", dir, r.root)
	}
	if rel == "." {
		return "", nil
	}
	return filepath.ToSlash(rel), nil
}

func (r *Repo) head() (*object.Commit, error) {
	ref, err := r.repo.Head()
	if err != nil {
		return nil, fmt.Errorf("reading HEAD (is there a commit yet?): %w", err)
	}
	c, err := r.repo.CommitObject(ref.Hash())
	if err != nil {
		return nil, fmt.Errorf("reading HEAD commit: %w", err)
	}
	return c, nil
}

// Commit is HEAD's full commit hash.
func (r *Repo) Commit() (string, error) {
	c, err := r.head()
	if err != nil {
		return "", err
	}
	return c.Hash.String(), nil
}

// Tree is the hash of the tree at dir (relative to the root, "" for the
// whole repository) in HEAD.
func (r *Repo) Tree(rel string) (string, error) {
	c, err := r.head()
	if err != nil {
		return "", err
	}
	t, err := c.Tree()
	if err != nil {
		return "", err
	}
	if rel == "" {
		return t.Hash.String(), nil
	}
	sub, err := t.Tree(rel)
	if err != nil {
		return "", fmt.Errorf("%s is not in HEAD: %w", rel, err)
	}
	return sub.Hash.String(), nil
}

// Branch is the checked-out branch, "" when HEAD is detached.
func (r *Repo) Branch() (string, error) {
	ref, err := r.repo.Head()
	if err != nil {
		return "", err
	}
	if ref.Name().IsBranch() {
		return ref.Name().Short(), nil
	}
	return "", nil
}

// tagsByCommit maps commits to the tags pointing at them (annotated tags
// peeled), each list sorted newest annotated first, then by name.
func (r *Repo) tagsByCommit() (map[plumbing.Hash][]string, error) {
	iter, err := r.repo.Tags()
	if err != nil {
		return nil, err
	}
	type tag struct {
		name string
		when int64
	}
	byCommit := map[plumbing.Hash][]tag{}
	err = iter.ForEach(func(ref *plumbing.Reference) error {
		h := ref.Hash()
		var when int64
		if to, err := r.repo.TagObject(h); err == nil {
			c, err := to.Commit()
			if err != nil {
				return nil // a tag of something that is not a commit
			}
			h, when = c.Hash, to.Tagger.When.Unix()
		}
		byCommit[h] = append(byCommit[h], tag{ref.Name().Short(), when})
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := map[plumbing.Hash][]string{}
	for h, tags := range byCommit {
		sort.Slice(tags, func(i, j int) bool {
			if tags[i].when != tags[j].when {
				return tags[i].when > tags[j].when
			}
			return tags[i].name < tags[j].name
		})
		for _, t := range tags {
			out[h] = append(out[h], t.name)
		}
	}
	return out, nil
}

// Tags lists the tags pointing at HEAD.
func (r *Repo) Tags() ([]string, error) {
	c, err := r.head()
	if err != nil {
		return nil, err
	}
	tags, err := r.tagsByCommit()
	if err != nil {
		return nil, err
	}
	return tags[c.Hash], nil
}

// Describe is what `git describe --tags --always` prints: the nearest tag,
// followed by -<commits since>-g<abbreviated hash> when HEAD is not tagged,
// or the abbreviated hash when no tag is reachable.
func (r *Repo) Describe() (string, error) {
	head, err := r.head()
	if err != nil {
		return "", err
	}
	tags, err := r.tagsByCommit()
	if err != nil {
		return "", err
	}
	if t := tags[head.Hash]; len(t) > 0 {
		return t[0], nil
	}
	// Walk history newest first, as git does, to the first tagged commit.
	var found *object.Commit
	iter := object.NewCommitIterCTime(head, nil, nil)
	_ = iter.ForEach(func(c *object.Commit) error {
		if len(tags[c.Hash]) > 0 {
			found = c
			return errStop
		}
		return nil
	})
	abbrev := head.Hash.String()[:7]
	if found == nil {
		return abbrev, nil
	}
	depth, err := commitsNotIn(head, found)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s-%d-g%s", tags[found.Hash][0], depth, abbrev), nil
}

var errStop = errors.New("stop")

// commitsNotIn counts commits reachable from head but not from base.
func commitsNotIn(head, base *object.Commit) (int, error) {
	inBase := map[plumbing.Hash]bool{}
	err := object.NewCommitPreorderIter(base, nil, nil).ForEach(func(c *object.Commit) error {
		inBase[c.Hash] = true
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	err = object.NewCommitPreorderIter(head, nil, nil).ForEach(func(c *object.Commit) error {
		if !inBase[c.Hash] {
			n++
		}
		return nil
	})
	return n, err
}

// Dirty reports whether anything under rel ("" for everything) differs
// from HEAD: modified, staged, deleted or untracked (not ignored) files.
func (r *Repo) Dirty(rel string) (bool, error) {
	wt, err := r.repo.Worktree()
	if err != nil {
		return false, err
	}
	st, err := wt.Status()
	if err != nil {
		return false, fmt.Errorf("reading git status: %w", err)
	}
	for p, s := range st {
		if s.Staging == git.Unmodified && s.Worktree == git.Unmodified {
			continue
		}
		if rel == "" || p == rel || strings.HasPrefix(p, rel+"/") {
			return true, nil
		}
	}
	return false, nil
}

// RemoteURL is the first URL of the remote name (such as origin), or ""
// when there is none. It may carry credentials: use it only to derive
// links from its host and path.
func (r *Repo) RemoteURL(name string) string {
	rem, err := r.repo.Remote(name)
	if err != nil || len(rem.Config().URLs) == 0 {
		return ""
	}
	return rem.Config().URLs[0]
}

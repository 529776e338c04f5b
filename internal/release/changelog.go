package release

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// GitInfo is what a release needs from the repository.
type GitInfo struct {
	// Commit is the full SHA the tag (or HEAD) points at.
	Commit string
	// Time is the commit time.
	Time time.Time
	// HeadTag is a tag pointing at HEAD, if any.
	HeadTag string
	// Previous is the newest tag before the release's commit, if any.
	Previous string
	// Changelog is Markdown: the subjects of the commits since Previous.
	Changelog string
}

// ReadGit opens the repository containing dir and describes the release of
// tag (or HEAD, when tag is empty or not found in the repository).
func ReadGit(dir, tag string) (*GitInfo, error) {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return nil, fmt.Errorf("opening the git repository at %s: %w", dir, err)
	}
	tags, err := tagsByCommit(repo)
	if err != nil {
		return nil, err
	}
	start, err := repo.Head()
	if err != nil {
		return nil, fmt.Errorf("reading HEAD: %w", err)
	}
	startHash := start.Hash()
	if tag != "" {
		for h, names := range tags {
			for _, n := range names {
				if n == tag {
					startHash = h
				}
			}
		}
	}
	info := &GitInfo{Commit: startHash.String()}
	if names := tags[start.Hash()]; len(names) > 0 {
		info.HeadTag = names[0]
	}
	iter, err := repo.Log(&git.LogOptions{From: startHash})
	if err != nil {
		return nil, fmt.Errorf("reading history: %w", err)
	}
	var lines []string
	stop := errors.New("stop")
	err = iter.ForEach(func(c *object.Commit) error {
		if c.Hash == startHash {
			info.Time = c.Committer.When.UTC()
		} else if names := tags[c.Hash]; len(names) > 0 {
			info.Previous = names[0]
			return stop
		}
		subject, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
		lines = append(lines, fmt.Sprintf("- %s (%s)", subject, c.Hash.String()[:8]))
		return nil
	})
	if err != nil && !errors.Is(err, stop) && !errors.Is(err, storer.ErrStop) {
		return nil, fmt.Errorf("reading history: %w", err)
	}
	title := tag
	if title == "" {
		title = info.Commit[:8]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## %s (%s)\n\n", title, info.Time.Format("2006-01-02"))
	if info.Previous != "" {
		fmt.Fprintf(&b, "Changes since %s:\n\n", info.Previous)
	}
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	info.Changelog = b.String()
	return info, nil
}

// tagsByCommit maps commits to the tags pointing at them (annotated tags
// resolved), tag names sorted.
func tagsByCommit(repo *git.Repository) (map[plumbing.Hash][]string, error) {
	out := map[plumbing.Hash][]string{}
	refs, err := repo.Tags()
	if err != nil {
		return nil, fmt.Errorf("reading tags: %w", err)
	}
	err = refs.ForEach(func(ref *plumbing.Reference) error {
		h := ref.Hash()
		if t, err := repo.TagObject(h); err == nil {
			c, err := t.Commit()
			if err != nil {
				return nil // a tag of something other than a commit
			}
			h = c.Hash
		}
		out[h] = append(out[h], ref.Name().Short())
		return nil
	})
	for h := range out {
		sort.Strings(out[h])
	}
	return out, err
}

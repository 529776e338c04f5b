package gitinfo

import (
	"errors"
	"fmt"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// TagCommit is the full hash of the commit tag name points at (annotated
// tags peeled); ok is false when there is no such tag.
func (r *Repo) TagCommit(name string) (string, bool) {
	ref, err := r.repo.Tag(name)
	if err != nil {
		return "", false
	}
	if t, err := r.repo.TagObject(ref.Hash()); err == nil {
		c, err := t.Commit()
		if err != nil {
			return "", false
		}
		return c.Hash.String(), true
	}
	return ref.Hash().String(), true
}

// Release describes what a release of a commit contains.
type Release struct {
	// Commit is the full hash of the released commit; Time its commit time.
	Commit string
	Time   time.Time
	// Previous is the newest tag before the commit, if any.
	Previous string
	// Subjects are the first lines of the commits since Previous, newest
	// first, each with its abbreviated hash.
	Subjects []string
}

// ReleaseOf describes the release of tag, or of HEAD when tag is empty or
// not a tag of the repository.
func (r *Repo) ReleaseOf(tag string) (*Release, error) {
	start, err := r.head()
	if err != nil {
		return nil, err
	}
	from := start.Hash
	if c, ok := r.TagCommit(tag); tag != "" && ok {
		from = plumbing.NewHash(c)
	}
	tags, err := r.tagsByCommit()
	if err != nil {
		return nil, fmt.Errorf("reading tags: %w", err)
	}
	iter, err := r.repo.Log(&git.LogOptions{From: from})
	if err != nil {
		return nil, fmt.Errorf("reading history: %w", err)
	}
	rel := &Release{Commit: from.String()}
	stop := errors.New("stop")
	err = iter.ForEach(func(c *object.Commit) error {
		if c.Hash == from {
			rel.Time = c.Committer.When.UTC()
		} else if names := tags[c.Hash]; len(names) > 0 {
			rel.Previous = names[0]
			return stop
		}
		subject, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
		rel.Subjects = append(rel.Subjects, fmt.Sprintf("%s (%s)", subject, c.Hash.String()[:8]))
		return nil
	})
	if err != nil && !errors.Is(err, stop) {
		return nil, fmt.Errorf("reading history: %w", err)
	}
	return rel, nil
}

// Changelog renders a release's subjects as Markdown under title.
func (rel *Release) Changelog(title string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## %s (%s)\n\n", title, rel.Time.Format("2006-01-02"))
	if rel.Previous != "" {
		fmt.Fprintf(&b, "Changes since %s:\n\n", rel.Previous)
	}
	for _, s := range rel.Subjects {
		b.WriteString("- " + s + "\n")
	}
	return b.String()
}

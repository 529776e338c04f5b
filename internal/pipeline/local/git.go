package local

import (
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/skiff-dev/skiff/internal/pipeline"
)

// Checkout is what the repository around a project directory says about
// HEAD.
type Checkout struct {
	Branch string // "" when HEAD is detached
	Tag    string // a tag pointing at HEAD, if any
	Commit string
}

// ReadCheckout reads HEAD of the git repository containing dir.
func ReadCheckout(dir string) (Checkout, error) {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return Checkout{}, fmt.Errorf("reading the git repository of %s: %w", dir, err)
	}
	head, err := repo.Head()
	if err != nil {
		return Checkout{}, fmt.Errorf("reading HEAD: %w", err)
	}
	c := Checkout{Commit: head.Hash().String()}
	if head.Name().IsBranch() {
		c.Branch = head.Name().Short()
	}
	tags, err := repo.Tags()
	if err != nil {
		return c, nil
	}
	_ = tags.ForEach(func(ref *plumbing.Reference) error {
		hash := ref.Hash()
		if t, err := repo.TagObject(hash); err == nil {
			hash = t.Target
		}
		if hash == head.Hash() && (c.Tag == "" || ref.Name().Short() > c.Tag) {
			c.Tag = ref.Name().Short()
		}
		return nil
	})
	return c, nil
}

// DefaultRef is the ref a pipeline for event runs for when none is given:
// the tag of HEAD for tag pipelines, else the current branch.
func (c Checkout) DefaultRef(event pipeline.Event) (string, error) {
	if event == pipeline.Tag {
		if c.Tag == "" {
			return "", errors.New("HEAD has no tag; pass --ref TAG")
		}
		return c.Tag, nil
	}
	if c.Branch == "" {
		return "", errors.New("HEAD is not on a branch; pass --ref BRANCH")
	}
	return c.Branch, nil
}

package local

import (
	"errors"
	"fmt"

	"github.com/skiff-dev/skiff/internal/gitinfo"
	"github.com/skiff-dev/skiff/internal/pipeline"
)

// Checkout is what the repository around a project directory says about
// HEAD (through gitinfo; the CI variables are not consulted: a local run
// simulates CI itself).
type Checkout struct {
	Branch string // "" when HEAD is detached
	Tag    string // a tag pointing at HEAD, if any
	Commit string
}

// ReadCheckout reads HEAD of the git repository containing dir.
func ReadCheckout(dir string) (Checkout, error) {
	repo, err := gitinfo.Open(dir)
	if err != nil {
		return Checkout{}, fmt.Errorf("reading the git repository of %s: %w", dir, err)
	}
	commit, err := repo.Commit()
	if err != nil {
		return Checkout{}, err
	}
	c := Checkout{Commit: commit}
	c.Branch, _ = repo.Branch()
	if tags, err := repo.Tags(); err == nil && len(tags) > 0 {
		c.Tag = tags[0]
	}
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

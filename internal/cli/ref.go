package cli

import (
	"os"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/skiff-dev/skiff/internal/env"
)

// resolveRef says what is being deployed: --ref when given (a tag when CI
// says so or the repository has a tag of that name), else the CI variables
// of GitLab or GitHub, else the local git checkout.
func resolveRef(flag, mergeRequest string) env.Ref {
	ref := env.Ref{
		MergeRequest: firstNonEmpty(mergeRequest, os.Getenv("CI_MERGE_REQUEST_IID")),
		Commit:       firstNonEmpty(os.Getenv("CI_COMMIT_SHA"), os.Getenv("GITHUB_SHA")),
	}
	repo, _ := git.PlainOpenWithOptions(".", &git.PlainOpenOptions{DetectDotGit: true})
	switch {
	case flag != "":
		name, isTag := strings.CutPrefix(flag, "refs/tags/")
		name = strings.TrimPrefix(name, "refs/heads/")
		ref.Name = name
		ref.Tag = isTag || name == os.Getenv("CI_COMMIT_TAG") || (os.Getenv("GITHUB_REF_TYPE") == "tag" && name == os.Getenv("GITHUB_REF_NAME")) || hasTag(repo, name)
	case os.Getenv("CI_COMMIT_TAG") != "":
		ref.Name, ref.Tag = os.Getenv("CI_COMMIT_TAG"), true
	case os.Getenv("CI_COMMIT_REF_NAME") != "":
		ref.Name = os.Getenv("CI_COMMIT_REF_NAME")
	case os.Getenv("GITHUB_HEAD_REF") != "":
		ref.Name = os.Getenv("GITHUB_HEAD_REF")
	case os.Getenv("GITHUB_REF_NAME") != "":
		ref.Name, ref.Tag = os.Getenv("GITHUB_REF_NAME"), os.Getenv("GITHUB_REF_TYPE") == "tag"
	case repo != nil:
		if head, err := repo.Head(); err == nil {
			if head.Name().IsBranch() {
				ref.Name = head.Name().Short()
			} else if t := tagAt(repo, head.Hash()); t != "" {
				ref.Name, ref.Tag = t, true
			}
		}
	}
	if ref.Commit == "" && repo != nil {
		if ref.Tag {
			if h := tagCommit(repo, ref.Name); !h.IsZero() {
				ref.Commit = h.String()
			}
		}
		if ref.Commit == "" {
			if head, err := repo.Head(); err == nil {
				ref.Commit = head.Hash().String()
			}
		}
	}
	return ref
}

func hasTag(repo *git.Repository, name string) bool {
	return repo != nil && !tagCommit(repo, name).IsZero()
}

// tagCommit returns the commit a tag points at, or the zero hash.
func tagCommit(repo *git.Repository, name string) plumbing.Hash {
	ref, err := repo.Tag(name)
	if err != nil {
		return plumbing.ZeroHash
	}
	if t, err := repo.TagObject(ref.Hash()); err == nil {
		return t.Target
	}
	return ref.Hash()
}

func tagAt(repo *git.Repository, commit plumbing.Hash) string {
	tags, err := repo.Tags()
	if err != nil {
		return ""
	}
	found := ""
	_ = tags.ForEach(func(r *plumbing.Reference) error {
		if found == "" && tagCommit(repo, r.Name().Short()) == commit {
			found = r.Name().Short()
		}
		return nil
	})
	return found
}

package cli

import (
	"os"
	"strings"

	"github.com/skiff-dev/skiff/internal/env"
	"github.com/skiff-dev/skiff/internal/gitinfo"
)

// resolveRef says what is being deployed: --ref when given (a tag when CI
// says so or the repository has a tag of that name), else the CI variables
// of GitLab or GitHub, else the local git checkout.
func resolveRef(flag, mergeRequest string) env.Ref {
	ref := env.Ref{
		MergeRequest: firstNonEmpty(mergeRequest, os.Getenv("CI_MERGE_REQUEST_IID")),
		Commit:       firstNonEmpty(os.Getenv("CI_COMMIT_SHA"), os.Getenv("GITHUB_SHA")),
	}
	repo, _ := gitinfo.Open(".")
	hasTag := func(name string) bool {
		if repo == nil {
			return false
		}
		_, ok := repo.TagCommit(name)
		return ok
	}
	switch {
	case flag != "":
		name, isTag := strings.CutPrefix(flag, "refs/tags/")
		name = strings.TrimPrefix(name, "refs/heads/")
		ref.Name = name
		ref.Tag = isTag || name == os.Getenv("CI_COMMIT_TAG") || (os.Getenv("GITHUB_REF_TYPE") == "tag" && name == os.Getenv("GITHUB_REF_NAME")) || hasTag(name)
	case os.Getenv("CI_COMMIT_TAG") != "":
		ref.Name, ref.Tag = os.Getenv("CI_COMMIT_TAG"), true
	case os.Getenv("CI_COMMIT_REF_NAME") != "":
		ref.Name = os.Getenv("CI_COMMIT_REF_NAME")
	case os.Getenv("GITHUB_HEAD_REF") != "":
		ref.Name = os.Getenv("GITHUB_HEAD_REF")
	case os.Getenv("GITHUB_REF_NAME") != "":
		ref.Name, ref.Tag = os.Getenv("GITHUB_REF_NAME"), os.Getenv("GITHUB_REF_TYPE") == "tag"
	case repo != nil:
		if branch, err := repo.Branch(); err == nil && branch != "" {
			ref.Name = branch
		} else if tags, err := repo.Tags(); err == nil && len(tags) > 0 {
			ref.Name, ref.Tag = tags[0], true // detached at a tag
		}
	}
	if ref.Commit == "" && repo != nil {
		if c, ok := repo.TagCommit(ref.Name); ref.Tag && ok {
			ref.Commit = c
		} else if c, err := repo.Commit(); err == nil {
			ref.Commit = c
		}
	}
	return ref
}

package gitinfo

import (
	"os/user"
	"strings"
)

// Ref describes what is being built or deployed: a branch or tag, with the
// commit and merge request when known.
type Ref struct {
	// Name is the branch or tag name as given (e.g. "feature/login", "v1.2.0").
	Name string
	// Tag is true when Name is a tag.
	Tag bool
	// Commit is the commit SHA when known.
	Commit string
	// MergeRequest is the merge request (pull request) number when known.
	MergeRequest string
}

// Facts are what the CI system and the git checkout of a project say about
// one invocation: which ref and commit, which merge request and pipeline,
// who runs it. Detect is the only place skiff reads CI variables or the
// checkout for these; commands take what they need from Facts.
type Facts struct {
	// Ref is the ref CI runs for (GitLab's CI_COMMIT_TAG or
	// CI_COMMIT_REF_NAME, GitHub's head or ref name), else the checked-out
	// branch, else a tag at a detached HEAD; empty when nothing says.
	Ref Ref
	// Pipeline is the CI pipeline (CI_PIPELINE_ID, GITHUB_RUN_ID).
	Pipeline string
	// User is who runs it: the CI user (GITLAB_USER_LOGIN, GITHUB_ACTOR),
	// else the local user ($USER).
	User string
	// LocalUser is the operating system user, for names such as skiff
	// dev's namespace.
	LocalUser string
	// CITag is the tag a CI tag pipeline runs for (CI_COMMIT_TAG, or
	// GitHub's ref name when its type is tag).
	CITag string
	// CICommit is the commit CI names (CI_COMMIT_SHA, GITHUB_SHA).
	CICommit string
	// HeadCommit and HeadTags describe the checkout's HEAD (tags newest
	// annotated first); empty outside a repository.
	HeadCommit string
	HeadTags   []string
	// Branch is the checked-out branch, empty when HEAD is detached.
	Branch string

	// Repo is the repository around the project directory; nil, with
	// RepoErr saying why, outside one.
	Repo    *Repo
	RepoErr error
}

// Detect reads the facts for a project in dir (the directory of the
// configuration file) from environ (the process environment as a map) and
// the git repository around dir. It never fails: a missing repository or
// variable leaves the fields it would fill empty.
func Detect(dir string, environ map[string]string) *Facts {
	env := func(k string) string { return environ[k] }
	f := &Facts{
		Pipeline:  first(env("CI_PIPELINE_ID"), env("GITHUB_RUN_ID")),
		User:      first(env("GITLAB_USER_LOGIN"), env("GITHUB_ACTOR"), env("USER")),
		LocalUser: env("USER"),
		CICommit:  first(env("CI_COMMIT_SHA"), env("GITHUB_SHA")),
		CITag:     env("CI_COMMIT_TAG"),
	}
	if f.CITag == "" && env("GITHUB_REF_TYPE") == "tag" {
		f.CITag = env("GITHUB_REF_NAME")
	}
	if f.LocalUser == "" {
		if u, err := user.Current(); err == nil {
			f.LocalUser = u.Username
		}
	}
	if f.Repo, f.RepoErr = Open(dir); f.RepoErr == nil {
		f.HeadCommit, _ = f.Repo.Commit()
		f.HeadTags, _ = f.Repo.Tags()
		f.Branch, _ = f.Repo.Branch()
	}
	f.Ref = Ref{MergeRequest: env("CI_MERGE_REQUEST_IID"), Commit: f.CICommit}
	switch {
	case f.CITag != "":
		f.Ref.Name, f.Ref.Tag = f.CITag, true
	case env("CI_COMMIT_REF_NAME") != "":
		f.Ref.Name = env("CI_COMMIT_REF_NAME")
	case env("GITHUB_HEAD_REF") != "":
		f.Ref.Name = env("GITHUB_HEAD_REF")
	case env("GITHUB_REF_NAME") != "":
		f.Ref.Name = env("GITHUB_REF_NAME")
	case f.Branch != "":
		f.Ref.Name = f.Branch
	case len(f.HeadTags) > 0:
		f.Ref.Name, f.Ref.Tag = f.HeadTags[0], true // detached at a tag
	}
	f.Ref.Commit = f.commitOf(f.Ref)
	return f
}

// RefFor is the ref a command deploys: name (a --ref flag: refs/tags/X is
// tag X, refs/heads/X branch X; X is a tag when CI says so or the
// repository has such a tag) when given, else Ref. mergeRequest, when
// given, overrides the merge request CI names.
func (f *Facts) RefFor(name, mergeRequest string) Ref {
	r := f.Ref
	if name != "" {
		short, isTag := strings.CutPrefix(name, "refs/tags/")
		short = strings.TrimPrefix(short, "refs/heads/")
		r = Ref{Name: short, MergeRequest: f.Ref.MergeRequest, Commit: f.CICommit}
		r.Tag = isTag || (short == f.CITag)
		if !r.Tag && f.Repo != nil {
			_, r.Tag = f.Repo.TagCommit(short)
		}
		r.Commit = f.commitOf(r)
	}
	if mergeRequest != "" {
		r.MergeRequest = mergeRequest
	}
	return r
}

// commitOf is the commit of r: what CI names, else the tag's commit for a
// tag of the repository, else HEAD.
func (f *Facts) commitOf(r Ref) string {
	if f.CICommit != "" {
		return f.CICommit
	}
	if f.Repo != nil && r.Tag {
		if c, ok := f.Repo.TagCommit(r.Name); ok {
			return c
		}
	}
	return f.HeadCommit
}

// Tag is the tag being released: CI's tag, else the newest tag at HEAD;
// empty when neither.
func (f *Facts) Tag() string {
	if f.CITag != "" {
		return f.CITag
	}
	if len(f.HeadTags) > 0 {
		return f.HeadTags[0]
	}
	return ""
}

// Commit is the commit being built: CI's, else HEAD's.
func (f *Facts) Commit() string {
	return first(f.CICommit, f.HeadCommit)
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

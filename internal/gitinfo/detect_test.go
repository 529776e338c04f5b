package gitinfo

import (
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"
)

func TestDetect(t *testing.T) {
	f := newFixture(t)
	f.commit(map[string]string{"a": "1"})
	older := f.commit(map[string]string{"a": "2"})
	if _, err := f.repo.CreateTag("v0.9.0", older, nil); err != nil {
		t.Fatal(err)
	}
	head := f.commit(map[string]string{"deploy/skiff.yaml": "x"})
	if _, err := f.repo.CreateTag("v1.0.0", head, nil); err != nil {
		t.Fatal(err)
	}
	dir := f.dir + "/deploy" // the directory of -f deploy/skiff.yaml
	tests := []struct {
		name     string
		env      map[string]string
		flag     string
		mr       string
		want     Ref
		user     string
		tag      string
		commit   string
		noRepo   bool
		pipeline string
	}{
		{name: "local checkout on a branch", env: map[string]string{"USER": "alice"},
			want: Ref{Name: "master", Commit: head.String()}, user: "alice", tag: "v1.0.0", commit: head.String()},
		{name: "GitLab merge request", env: map[string]string{"CI_COMMIT_REF_NAME": "feature/Login_Page", "CI_MERGE_REQUEST_IID": "7", "CI_COMMIT_SHA": "abc", "GITLAB_USER_LOGIN": "bob", "USER": "root", "CI_PIPELINE_ID": "42"},
			want: Ref{Name: "feature/Login_Page", MergeRequest: "7", Commit: "abc"}, user: "bob", tag: "v1.0.0", commit: "abc", pipeline: "42"},
		{name: "GitLab tag", env: map[string]string{"CI_COMMIT_TAG": "v1.0.0", "CI_COMMIT_REF_NAME": "v1.0.0", "CI_COMMIT_SHA": "abc"},
			want: Ref{Name: "v1.0.0", Tag: true, Commit: "abc"}, tag: "v1.0.0", commit: "abc"},
		{name: "GitHub pull request", env: map[string]string{"GITHUB_HEAD_REF": "fix-1", "GITHUB_REF_NAME": "7/merge", "GITHUB_SHA": "def", "GITHUB_ACTOR": "carol", "GITHUB_RUN_ID": "9"},
			want: Ref{Name: "fix-1", Commit: "def"}, user: "carol", tag: "v1.0.0", commit: "def", pipeline: "9"},
		{name: "GitHub tag", env: map[string]string{"GITHUB_REF_NAME": "v2.0.0", "GITHUB_REF_TYPE": "tag", "GITHUB_SHA": "def"},
			want: Ref{Name: "v2.0.0", Tag: true, Commit: "def"}, tag: "v2.0.0", commit: "def"},
		{name: "--ref of a tag the repository has", flag: "v0.9.0",
			want: Ref{Name: "v0.9.0", Tag: true, Commit: older.String()}, tag: "v1.0.0", commit: head.String()},
		{name: "--ref refs/tags/ of a tag it has not", flag: "refs/tags/v3",
			want: Ref{Name: "v3", Tag: true, Commit: head.String()}, tag: "v1.0.0", commit: head.String()},
		{name: "--ref branch with --merge-request", flag: "refs/heads/topic", mr: "12", env: map[string]string{"CI_MERGE_REQUEST_IID": "7"},
			want: Ref{Name: "topic", MergeRequest: "12", Commit: head.String()}, tag: "v1.0.0", commit: head.String()},
		{name: "--ref of CI's tag", flag: "v5", env: map[string]string{"CI_COMMIT_TAG": "v5", "CI_COMMIT_SHA": "abc"},
			want: Ref{Name: "v5", Tag: true, Commit: "abc"}, tag: "v5", commit: "abc"},
		{name: "no repository, no CI", noRepo: true, env: map[string]string{"USER": "dave"}, user: "dave"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := dir
			if tt.noRepo {
				d = t.TempDir()
			}
			facts := Detect(d, tt.env)
			if got := facts.RefFor(tt.flag, tt.mr); !cmp.Equal(got, tt.want) {
				t.Errorf("ref (-want +got):\n%s", cmp.Diff(tt.want, got))
			}
			if facts.User != tt.user || facts.Tag() != tt.tag || facts.Commit() != tt.commit || facts.Pipeline != tt.pipeline {
				t.Errorf("user %q tag %q commit %q pipeline %q; want %q %q %q %q", facts.User, facts.Tag(), facts.Commit(), facts.Pipeline, tt.user, tt.tag, tt.commit, tt.pipeline)
			}
			if (facts.Repo == nil) != tt.noRepo {
				t.Errorf("repo %v (%v)", facts.Repo, facts.RepoErr)
			}
		})
	}
}

func TestDetectDetachedAtATag(t *testing.T) {
	f := newFixture(t)
	h := f.commit(map[string]string{"a": "1"})
	if _, err := f.repo.CreateTag("v1.0.0", h, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.repo.Storer.SetReference(plumbing.NewHashReference(plumbing.HEAD, h)); err != nil {
		t.Fatal(err)
	}
	if got := Detect(f.dir, nil).Ref; got != (Ref{Name: "v1.0.0", Tag: true, Commit: h.String()}) {
		t.Errorf("detached at a tag: %+v", got)
	}
}

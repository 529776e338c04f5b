package gitinfo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

func TestReleaseOfAndChangelog(t *testing.T) {
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	commit := func(msg string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "f"), []byte(msg), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := wt.Add("f"); err != nil {
			t.Fatal(err)
		}
		sig := &object.Signature{Name: "t", Email: "t@example.com", When: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
		h, err := wt.Commit(msg+"\n\nbody", &git.CommitOptions{Author: sig, Committer: sig})
		if err != nil {
			t.Fatal(err)
		}
		_ = h
	}
	commit("first")
	head, _ := repo.Head()
	if _, err := repo.CreateTag("v0.9.0", head.Hash(), nil); err != nil {
		t.Fatal(err)
	}
	commit("add login")
	commit("fix logout")
	head, _ = repo.Head()
	if _, err := repo.CreateTag("v1.0.0", head.Hash(), &git.CreateTagOptions{Message: "v1", Tagger: &object.Signature{Name: "t", Email: "t@e", When: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	info, err := r.ReleaseOf("v1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if tags, _ := r.Tags(); len(tags) != 1 || tags[0] != "v1.0.0" || info.Previous != "v0.9.0" || info.Commit != head.Hash().String() {
		t.Errorf("tags %v, release %+v", tags, info)
	}
	changelog := info.Changelog("v1.0.0")
	for _, want := range []string{"## v1.0.0 (2026-11-01)", "Changes since v0.9.0", "- fix logout (", "- add login ("} {
		if !strings.Contains(changelog, want) {
			t.Errorf("changelog lacks %q:\n%s", want, changelog)
		}
	}
	if strings.Contains(changelog, "first") {
		t.Errorf("changelog includes the previous release:\n%s", changelog)
	}
}

package gitinfo

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

type fixture struct {
	t    *testing.T
	dir  string
	repo *git.Repository
	n    int
}

func newFixture(t *testing.T) *fixture {
	dir := t.TempDir()
	r, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, dir: dir, repo: r}
}

func (f *fixture) write(rel, content string) {
	p := filepath.Join(f.dir, rel)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) commit(files map[string]string) plumbing.Hash {
	wt, _ := f.repo.Worktree()
	for p, c := range files {
		f.write(p, c)
		if _, err := wt.Add(p); err != nil {
			f.t.Fatal(err)
		}
	}
	f.n++
	h, err := wt.Commit("commit", &git.CommitOptions{Author: &object.Signature{Name: "t", Email: "t@example.com", When: time.Unix(1700000000+int64(f.n)*60, 0)}})
	if err != nil {
		f.t.Fatal(err)
	}
	return h
}

func TestDescribe(t *testing.T) {
	f := newFixture(t)
	first := f.commit(map[string]string{"a": "1"})
	r, err := Open(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := r.Describe()
	if got != first.String()[:7] {
		t.Errorf("no tags: describe = %q, want the abbreviated commit", got)
	}
	if _, err := f.repo.CreateTag("v1.0.0", first, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Describe(); got != "v1.0.0" {
		t.Errorf("tagged HEAD: describe = %q", got)
	}
	f.commit(map[string]string{"a": "2"})
	third := f.commit(map[string]string{"b": "3"})
	if got, _ := r.Describe(); got != "v1.0.0-2-g"+third.String()[:7] {
		t.Errorf("two commits after a tag: describe = %q", got)
	}
	if _, err := f.repo.CreateTag("v1.1.0", third, &git.CreateTagOptions{Tagger: &object.Signature{Name: "t", When: time.Now()}, Message: "release"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Describe(); got != "v1.1.0" {
		t.Errorf("annotated tag at HEAD: describe = %q", got)
	}
	tags, _ := r.Tags()
	if len(tags) != 1 || tags[0] != "v1.1.0" {
		t.Errorf("tags at HEAD = %v", tags)
	}
	commit, _ := r.Commit()
	if commit != third.String() {
		t.Errorf("commit = %s, want %s", commit, third)
	}
	if b, _ := r.Branch(); b != "master" && b != "main" {
		t.Errorf("branch = %q", b)
	}
}

func TestTreeAndDirty(t *testing.T) {
	f := newFixture(t)
	f.commit(map[string]string{"app/main.go": "package main", "web/index.html": "<p>", "README": "r"})
	r, err := Open(filepath.Join(f.dir, "app"))
	if err != nil {
		t.Fatal(err)
	}
	rel, err := r.Rel(filepath.Join(f.dir, "app"))
	if err != nil || rel != "app" {
		t.Fatalf("rel = %q, %v", rel, err)
	}
	appTree, err := r.Tree("app")
	if err != nil {
		t.Fatal(err)
	}
	rootTree, _ := r.Tree("")
	if appTree == rootTree || len(appTree) != 40 {
		t.Errorf("tree of app = %s, root = %s", appTree, rootTree)
	}
	for _, tc := range []struct {
		change   func()
		app, web bool
	}{
		{func() {}, false, false},
		{func() { f.write("web/index.html", "<p>changed") }, false, true},
		{func() { f.write("app/new.go", "package main") }, true, true},
	} {
		tc.change()
		app, err := r.Dirty("app")
		if err != nil {
			t.Fatal(err)
		}
		web, _ := r.Dirty("web")
		all, _ := r.Dirty("")
		if app != tc.app || web != tc.web || all != (tc.app || tc.web) {
			t.Errorf("dirty app=%v web=%v all=%v, want %v %v", app, web, all, tc.app, tc.web)
		}
	}
	// Ignored files do not make a tree dirty.
	f.commit(map[string]string{".gitignore": "*.tmp\n", "web/index.html": "<p>changed", "app/new.go": "package main"})
	f.write("app/scratch.tmp", "x")
	if d, _ := r.Dirty("app"); d {
		t.Error("an ignored file made app dirty")
	}
}

func TestNotRepository(t *testing.T) {
	_, err := Open(t.TempDir())
	if !errors.Is(err, ErrNotRepository) || !strings.Contains(err.Error(), "not a git repository") {
		t.Errorf("err = %v", err)
	}
}

func TestRemoteURL(t *testing.T) {
	f := newFixture(t)
	f.commit(map[string]string{"a": "1"})
	r, err := Open(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	if u := r.RemoteURL("origin"); u != "" {
		t.Errorf("no remote yet, but RemoteURL = %q", u)
	}
	if _, err := f.repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{"git@gitlab.com:group/myapp.git"}}); err != nil {
		t.Fatal(err)
	}
	if u := r.RemoteURL("origin"); u != "git@gitlab.com:group/myapp.git" {
		t.Errorf("RemoteURL = %q", u)
	}
}

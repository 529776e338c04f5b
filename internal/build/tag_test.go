package build

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/skiff-dev/skiff/internal/config"
)

func gitRepo(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	r, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "app"), 0o755)
	os.WriteFile(filepath.Join(dir, "app", "Dockerfile"), []byte("FROM scratch\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "README"), []byte("r"), 0o644)
	wt, _ := r.Worktree()
	wt.Add(".")
	h, err := wt.Commit("one", &git.CommitOptions{Author: &object.Signature{Name: "t", When: time.Unix(1700000000, 0)}})
	if err != nil {
		t.Fatal(err)
	}
	return dir, h.String()
}

func TestTagPolicies(t *testing.T) {
	dir, commit := gitRepo(t)
	app := &config.Artifact{ImageName: "app", Workspace: filepath.Join(dir, "app"), ArtifactType: config.ArtifactType{DockerArtifact: &config.DockerArtifact{}}}
	tg := &tagger{
		now:     func() time.Time { return time.Date(2026, 11, 27, 10, 30, 0, 0, time.UTC) },
		environ: func() map[string]string { return map[string]string{"USER": "ci", "BUILD": "42"} },
		digest:  inputDigest,
	}
	tests := []struct {
		name   string
		policy config.TagPolicy
		want   string
	}{
		{"default", config.TagPolicy{}, commit[:7]},
		{"tags", config.TagPolicy{GitTagger: &config.GitTagger{Variant: "Tags"}}, commit[:7]},
		{"commit", config.TagPolicy{GitTagger: &config.GitTagger{Variant: "CommitSha", Prefix: "v-"}}, "v-" + commit},
		{"abbrev", config.TagPolicy{GitTagger: &config.GitTagger{Variant: "AbbrevCommitSha"}}, commit[:7]},
		{"sha256", config.TagPolicy{ShaTagger: &struct{}{}}, "latest"},
		{"envTemplate", config.TagPolicy{EnvTemplateTagger: &config.EnvTemplateTagger{Template: "{{.USER}}-{{.BUILD}}"}}, "ci-42"},
		{"dateTime", config.TagPolicy{DateTimeTagger: &config.DateTimeTagger{Format: "2006-01-02", TimeZone: "UTC"}}, "2026-11-27"},
		{"dateTime default", config.TagPolicy{DateTimeTagger: &config.DateTimeTagger{TimeZone: "UTC"}}, "2026-11-27_10-30-00_UTC"},
		{"customTemplate", config.TagPolicy{CustomTemplateTagger: &config.CustomTemplateTagger{
			Template:   "{{.FOO}}_{{.GIT}}",
			Components: []config.TaggerComponent{{Name: "FOO", TagPolicy: config.TagPolicy{ShaTagger: &struct{}{}}}},
		}}, "latest_" + commit[:7]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tg.Tag(context.Background(), app, tt.policy)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("tag = %q, want %q", got, tt.want)
			}
		})
	}
	tree, err := tg.Tag(context.Background(), app, config.TagPolicy{GitTagger: &config.GitTagger{Variant: "AbbrevTreeSha"}})
	if err != nil || !regexp.MustCompile(`^[0-9a-f]{7}$`).MatchString(tree) {
		t.Errorf("tree sha tag = %q, %v", tree, err)
	}

	// Uncommitted changes in the artifact's context add -dirty; elsewhere they do not.
	os.WriteFile(filepath.Join(dir, "README"), []byte("changed"), 0o644)
	if got, _ := tg.Tag(context.Background(), app, config.TagPolicy{}); got != commit[:7] {
		t.Errorf("a change outside the context: tag = %q", got)
	}
	os.WriteFile(filepath.Join(dir, "app", "new"), []byte("x"), 0o644)
	if got, _ := tg.Tag(context.Background(), app, config.TagPolicy{}); got != commit[:7]+"-dirty" {
		t.Errorf("a change in the context: tag = %q", got)
	}
	if got, _ := tg.Tag(context.Background(), app, config.TagPolicy{GitTagger: &config.GitTagger{IgnoreChanges: true}}); got != commit[:7] {
		t.Errorf("ignoreChanges: tag = %q", got)
	}

	// inputDigest changes with the inputs and only with them.
	d1, err := tg.Tag(context.Background(), app, config.TagPolicy{InputDigest: &struct{}{}})
	if err != nil || len(d1) != 64 {
		t.Fatalf("inputDigest = %q, %v", d1, err)
	}
	d2, _ := tg.Tag(context.Background(), app, config.TagPolicy{InputDigest: &struct{}{}})
	os.WriteFile(filepath.Join(dir, "app", "new"), []byte("y"), 0o644)
	d3, _ := tg.Tag(context.Background(), app, config.TagPolicy{InputDigest: &struct{}{}})
	if d1 != d2 || d1 == d3 {
		t.Errorf("inputDigest: same inputs %s %s, changed input %s", d1, d2, d3)
	}
}

func TestTagErrors(t *testing.T) {
	tg := &tagger{now: time.Now, environ: func() map[string]string { return nil }, digest: inputDigest}
	a := &config.Artifact{ImageName: "app", Workspace: t.TempDir()}
	for _, p := range []config.TagPolicy{
		{GitTagger: &config.GitTagger{}},
		{EnvTemplateTagger: &config.EnvTemplateTagger{Template: "{{.MISSING}}"}},
		{EnvTemplateTagger: &config.EnvTemplateTagger{Template: "has space"}},
		{DateTimeTagger: &config.DateTimeTagger{TimeZone: "Mars/Olympus"}},
	} {
		if tag, err := tg.Tag(context.Background(), a, p); err == nil {
			t.Errorf("policy %+v: tag %q, want an error", p, tag)
		}
	}
}

package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"text/template"
	"time"

	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/gitinfo"
)

// tagger computes the tag of an artifact under a tag policy.
type tagger struct {
	now     func() time.Time
	environ func() map[string]string
	digest  func(ctx context.Context, a *config.Artifact) (string, error)
}

// Tag returns the tag (without repository) that policy gives artifact a.
func (t *tagger) Tag(ctx context.Context, a *config.Artifact, policy config.TagPolicy) (string, error) {
	switch {
	case policy.GitTagger != nil:
		return gitTag(a.Workspace, *policy.GitTagger)
	case policy.ShaTagger != nil:
		return "latest", nil
	case policy.EnvTemplateTagger != nil:
		return t.template(policy.EnvTemplateTagger.Template, t.environ())
	case policy.DateTimeTagger != nil:
		return dateTimeTag(t.now(), *policy.DateTimeTagger)
	case policy.InputDigest != nil:
		return t.digest(ctx, a)
	case policy.CustomTemplateTagger != nil:
		return t.customTemplate(ctx, a, *policy.CustomTemplateTagger)
	}
	return gitTag(a.Workspace, config.GitTagger{Variant: "Tags"})
}

// gitTag implements the gitCommit policy as Skaffold does: the variant's
// value for the artifact's context, with the prefix, and "-dirty" when the
// context has uncommitted changes (unless ignoreChanges).
func gitTag(dir string, g config.GitTagger) (string, error) {
	repo, err := gitinfo.Open(dir)
	if err != nil {
		return "", fmt.Errorf("gitCommit tag policy: %w", err)
	}
	rel, err := repo.Rel(dir)
	if err != nil {
		return "", err
	}
	var ref string
	switch g.Variant {
	case "", "Tags":
		ref, err = repo.Describe()
	case "CommitSha":
		ref, err = repo.Commit()
	case "AbbrevCommitSha":
		if ref, err = repo.Commit(); err == nil {
			ref = ref[:7]
		}
	case "TreeSha":
		ref, err = repo.Tree(rel)
	case "AbbrevTreeSha":
		if ref, err = repo.Tree(rel); err == nil {
			ref = ref[:7]
		}
	default:
		return "", fmt.Errorf("gitCommit: unknown variant %q (Tags, CommitSha, AbbrevCommitSha, TreeSha or AbbrevTreeSha)", g.Variant)
	}
	if err != nil {
		return "", fmt.Errorf("gitCommit tag policy: %w", err)
	}
	ref = g.Prefix + ref
	if !g.IgnoreChanges {
		dirty, err := repo.Dirty(rel)
		if err != nil {
			return "", fmt.Errorf("gitCommit tag policy: %w", err)
		}
		if dirty {
			ref += "-dirty"
		}
	}
	return sanitizeTag(ref), nil
}

var invalidTagChars = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// sanitizeTag makes s a valid tag: git tags may contain "/" and "+".
func sanitizeTag(s string) string {
	s = invalidTagChars.ReplaceAllString(s, "-")
	s = strings.TrimLeft(s, ".-")
	if len(s) > 128 {
		s = s[:128]
	}
	return s
}

// Skaffold's default date format and its Go translation.
const defaultDateFormat = "2006-01-02_15-04-05.999_MST"

func dateTimeTag(now time.Time, d config.DateTimeTagger) (string, error) {
	format := d.Format
	if format == "" {
		format = defaultDateFormat
	}
	loc := time.Local
	if d.TimeZone != "" {
		var err error
		if loc, err = time.LoadLocation(d.TimeZone); err != nil {
			return "", fmt.Errorf("dateTime tag policy: %w", err)
		}
	}
	return sanitizeTag(now.In(loc).Format(format)), nil
}

func (t *tagger) template(text string, vars map[string]string) (string, error) {
	tmpl, err := template.New("tag").Option("missingkey=error").Parse(text)
	if err != nil {
		return "", fmt.Errorf("tag template %q: %w", text, err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, vars); err != nil {
		return "", fmt.Errorf("tag template %q: %w", text, err)
	}
	tag := buf.String()
	if tag == "" || sanitizeTag(tag) != tag {
		return "", fmt.Errorf("tag template %q gives %q, which is not a valid tag", text, tag)
	}
	return tag, nil
}

// customTemplate fills the template with named components (each a tag
// policy) and Skaffold's built-in GIT, DATE, SHA and INPUT_DIGEST.
func (t *tagger) customTemplate(ctx context.Context, a *config.Artifact, c config.CustomTemplateTagger) (string, error) {
	vars := map[string]string{}
	lazy := map[string]config.TagPolicy{
		"GIT":          {GitTagger: &config.GitTagger{Variant: "Tags"}},
		"DATE":         {DateTimeTagger: &config.DateTimeTagger{}},
		"SHA":          {ShaTagger: &struct{}{}},
		"INPUT_DIGEST": {InputDigest: &struct{}{}},
	}
	for _, comp := range c.Components {
		if comp.TagPolicy.CustomTemplateTagger != nil {
			return "", errors.New("customTemplate: a component cannot be another customTemplate")
		}
		lazy[comp.Name] = comp.TagPolicy
	}
	for name, policy := range lazy {
		if !strings.Contains(c.Template, "."+name) {
			continue
		}
		v, err := t.Tag(ctx, a, policy)
		if err != nil {
			return "", fmt.Errorf("customTemplate component %s: %w", name, err)
		}
		vars[name] = v
	}
	return t.template(c.Template, vars)
}

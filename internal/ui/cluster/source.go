package cluster

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/kubeclient"
	"github.com/skiff-dev/skiff/internal/release"
	"github.com/skiff-dev/skiff/internal/ui"
)

// Clients are the clients of one environment's cluster.
type Clients struct {
	Applier *apply.Applier
	Kube    kubeclient.Interface
}

// Source reads what skiff ui shows from the clusters and the registry.
type Source struct {
	// App is the application whose environments are shown.
	App string
	// List is the environment list: the engine call behind skiff env list.
	List func(ctx context.Context) ([]ui.Environment, error)
	// Clients returns the clients of an environment's cluster; environments
	// on the same cluster as the same identity should share them.
	Clients func(id ui.ID) (Clients, error)
	// Store and Repository are where releases are read; a nil Store
	// shows none.
	Store      *release.Store
	Repository string
	// Remote is the git remote's URL; when it names a GitHub or GitLab
	// project, versions link to their commits.
	Remote string
}

var _ ui.Source = (*Source)(nil)

// Environments is the environment list, with links to commits.
func (s *Source) Environments(ctx context.Context) ([]ui.Environment, error) {
	envs, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	for i := range envs {
		if envs[i].CommitURL == "" {
			envs[i].CommitURL = CommitURL(s.Remote, envs[i].Commit)
		}
	}
	return envs, nil
}

// Environment is one environment of the list.
func (s *Source) Environment(ctx context.Context, id ui.ID) (ui.Environment, error) {
	envs, err := s.Environments(ctx)
	if err != nil {
		return ui.Environment{}, err
	}
	for _, e := range envs {
		if e.ID == id {
			return e, nil
		}
	}
	return ui.Environment{}, fmt.Errorf("environment %s (namespace %s): %w", id.Name, id.Namespace, ui.ErrNotFound)
}

// History is the environment's release records.
func (s *Source) History(ctx context.Context, id ui.ID) ([]ui.Revision, error) {
	c, err := s.Clients(id)
	if err != nil {
		return nil, err
	}
	recs, err := c.Applier.Records().List(ctx, id.Namespace, s.App)
	if err != nil {
		return nil, err
	}
	out := make([]ui.Revision, 0, len(recs))
	for _, r := range recs {
		out = append(out, ui.Revision{
			Revision: r.Revision, Status: string(r.Status), Message: r.Message, Time: r.Time,
			By: firstNonEmpty(r.Actor, r.KubeUser), Version: version(r.Tag, r.Commit), Commit: r.Commit,
			CommitURL: CommitURL(s.Remote, r.Commit), Images: r.Images, Description: r.Description, RollbackOf: r.RollbackOf,
		})
	}
	return out, nil
}

// Inventory is the kstatus of each object in the environment's inventory.
func (s *Source) Inventory(ctx context.Context, id ui.ID) ([]ui.Object, error) {
	c, err := s.Clients(id)
	if err != nil {
		return nil, err
	}
	events, err := c.Applier.Health(ctx, id.Namespace, s.App)
	if err != nil {
		return nil, err
	}
	out := make([]ui.Object, 0, len(events))
	for _, ev := range events {
		kind := ev.Ref.Kind.Kind
		if ev.Ref.Kind.Group != "" {
			kind += "." + ev.Ref.Kind.Group
		}
		o := ui.Object{Kind: kind, Namespace: ev.Ref.Namespace, Name: ev.Ref.Name, Status: string(ev.Result.Status), Message: ev.Result.Message}
		if p := ev.Result.Problem; p != nil {
			o.Problem = p.String()
		}
		out = append(out, o)
	}
	return out, nil
}

// Diff compares two revisions' manifests, Secret values redacted.
func (s *Source) Diff(ctx context.Context, id ui.ID, from, to int) ([]ui.ObjectDiff, error) {
	c, err := s.Clients(id)
	if err != nil {
		return nil, err
	}
	diffs, err := c.Applier.Records().Diff(ctx, id.Namespace, s.App, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]ui.ObjectDiff, 0, len(diffs))
	for _, d := range diffs {
		out = append(out, ui.ObjectDiff{Object: d.Object, Change: ui.DiffChange(d.Change), Unified: d.Unified})
	}
	return out, nil
}

// Releases lists the releases in the release repository with their
// changelogs.
func (s *Source) Releases(ctx context.Context) ([]ui.Release, error) {
	if s.Store == nil || s.Repository == "" {
		return nil, nil
	}
	rels, err := s.Store.List(ctx, s.Repository)
	if err != nil {
		return nil, err
	}
	out := make([]ui.Release, 0, len(rels))
	for _, r := range rels {
		log, err := r.Changelog(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, ui.Release{Tag: r.Metadata.Tag, Commit: r.Metadata.Commit, Ref: r.Ref.String(), Created: r.Metadata.Created, Environments: r.Environments(), Changelog: log})
	}
	return out, nil
}

// version is what env list shows as a version: the tag, else the short
// commit.
func version(tag, commit string) string {
	if tag != "" {
		return tag
	}
	if len(commit) >= 8 {
		return commit[:8]
	}
	return commit
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// CommitURL links commit in the project that remote (a git remote URL,
// https or scp-like) names on GitHub or GitLab; "" for other hosts.
func CommitURL(remote, commit string) string {
	if remote == "" || commit == "" {
		return ""
	}
	host, path := "", ""
	if u, err := url.Parse(remote); err == nil && u.Host != "" && (u.Scheme == "https" || u.Scheme == "http" || u.Scheme == "ssh") {
		host, path = u.Hostname(), u.Path
	} else if at := strings.Index(remote, "@"); at >= 0 {
		if h, p, ok := strings.Cut(remote[at+1:], ":"); ok {
			host, path = h, p
		}
	}
	path = strings.Trim(strings.TrimSuffix(path, ".git"), "/")
	if host == "" || path == "" {
		return ""
	}
	switch {
	case strings.Contains(host, "github"):
		return "https://" + host + "/" + path + "/commit/" + url.PathEscape(commit)
	case strings.Contains(host, "gitlab"):
		return "https://" + host + "/" + path + "/-/commit/" + url.PathEscape(commit)
	}
	return ""
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/build"
	"github.com/skiff-dev/skiff/internal/cleanup"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/env"
	"github.com/skiff-dev/skiff/internal/gitinfo"
	"github.com/skiff-dev/skiff/internal/oci"
	"github.com/skiff-dev/skiff/internal/release"
)

// runRegistry is skiff cleanup --registry: everything that decides what is
// needed is read first (environments, releases, git history); any error
// there deletes nothing.
func (o *cleanupOptions) runRegistry(ctx context.Context) error {
	p, err := o.s.project()
	if err != nil {
		return err
	}
	reg := o.s.registry(p)
	repos, err := cleanupRepositories(p, reg, o.s.flags.DefaultRepo, o.cacheRepo)
	if err != nil {
		return err
	}
	if len(repos) == 0 {
		return usageError("--registry: the configuration has no artifacts, so no image repository to clean")
	}
	needed, err := o.needed(ctx, p, reg)
	if err != nil {
		return err
	}
	history, err := o.history(p)
	if err != nil {
		return err
	}
	rep, err := cleanup.Registry(ctx, reg, cleanup.RegistryOptions{
		Repositories: repos, Needed: needed, History: history, CacheGrace: o.cacheGrace, DryRun: o.dryRun,
	})
	if rep != nil {
		printRegistryReport(o.s.streams.Out, o.s.streams.Err, rep)
	}
	return err
}

// cleanupRepositories are the image repositories of p's artifacts (under
// --default-repo as the build names them) with the registry cache each
// one's build uses.
func cleanupRepositories(p *config.Project, reg *oci.Client, defaultRepo, cacheRepo string) ([]cleanup.Repository, error) {
	var out []cleanup.Repository
	seen := map[string]bool{}
	for _, c := range p.Configs {
		commitTags := false
		if g := c.Build.TagPolicy.GitTagger; g != nil {
			switch g.Variant {
			case "", "Tags", "CommitSha", "AbbrevCommitSha":
				commitTags = true
			}
		}
		for _, a := range c.Build.Artifacts {
			image := build.DefaultRepoImage(defaultRepo, a.ImageName)
			repo, err := reg.ParseRepository(image)
			if err != nil {
				return nil, fmt.Errorf("artifact %s: %w", a.ImageName, err)
			}
			if seen[repo.String()] {
				continue
			}
			seen[repo.String()] = true
			r := cleanup.Repository{Image: repo, CommitTags: commitTags}
			cache := cacheRepo
			if spec, ok := build.Spec(a); ok {
				if cache == "" {
					cache = spec.CacheRepo
				}
				if cache == "" {
					cache = build.CacheRepo(repo.Name())
				}
			}
			if cache != "" {
				cr, err := reg.ParseRepository(cache)
				if err != nil {
					return nil, fmt.Errorf("artifact %s: cache repository: %w", a.ImageName, err)
				}
				r.Cache = &cr
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// needed marks what every environment's release records and every release
// artifact refer to.
func (o *cleanupOptions) needed(ctx context.Context, p *config.Project, reg *oci.Client) (*cleanup.Needed, error) {
	n := cleanup.NewNeeded()
	app := p.Name()
	if len(p.Environments()) > 0 {
		connect := o.s.environments()
		rows, err := env.List(ctx, p, o.s.facts(p).User, config.Environ(), connect)
		if err != nil {
			return nil, fmt.Errorf("reading the environments (nothing deleted): %w", err)
		}
		for _, r := range rows {
			if r.Namespace == "" {
				continue
			}
			var e *config.Environment
			if !strings.HasSuffix(r.Environment, env.NotConfigured) {
				e, _ = p.Environment(r.Environment)
			}
			c, err := connect(e)
			if err != nil {
				return nil, err
			}
			if err := n.AddRecords(ctx, apply.NewRecords(c.Core), r.Namespace, app, "environment "+r.Environment); err != nil {
				return nil, fmt.Errorf("reading the release records of environment %s in namespace %s (nothing deleted): %w", r.Environment, r.Namespace, err)
			}
		}
	}
	repo, err := o.s.releaseRepo(p, app)
	if err != nil {
		if p.Skiff != nil && p.Skiff.Release != nil {
			return nil, err
		}
		o.s.warn("no release repository (release.repository in skiff.yaml or --default-repo): no release keeps an image")
		return n, nil
	}
	if err := n.AddReleases(ctx, &release.Store{Client: reg}, repo); err != nil {
		return nil, fmt.Errorf("%w (nothing deleted)", err)
	}
	return n, nil
}

// history is what the project's git history still wants; nil (every tag
// that names a commit is kept) outside a git repository.
func (o *cleanupOptions) history(p *config.Project) (*gitinfo.History, error) {
	dir := projectDir(p)
	repo, err := gitinfo.Open(dir)
	if err != nil {
		o.s.warn("%s is not in a git repository: image tags that name commits are all kept", dir)
		return nil, nil
	}
	h, err := repo.History(o.keepPerBranch, o.defaultBranch)
	if errors.Is(err, gitinfo.ErrShallow) {
		return nil, fmt.Errorf("%w: cleanup --registry needs the whole history (in GitLab CI set GIT_DEPTH: 0; in GitHub Actions fetch-depth: 0), nothing deleted", err)
	}
	return h, err
}

func printRegistryReport(out, errOut io.Writer, rep *cleanup.RegistryReport) {
	verb := "deleted"
	if rep.DryRun {
		verb = "would delete"
	}
	for _, it := range rep.Deleted {
		fmt.Fprintf(out, "%s %s %s (%s): %s\n", verb, it.Kind, it.Ref, shortDigest(it.Digest), it.Reason)
	}
	for _, it := range rep.Kept {
		fmt.Fprintf(out, "kept %s %s (%s): %s\n", it.Kind, it.Ref, shortDigest(it.Digest), it.Reason)
	}
	fmt.Fprintf(errOut, "cleanup --registry: %s %d tags, kept %d\n", verb, len(rep.Deleted), len(rep.Kept))
}

func shortDigest(d string) string {
	if h, err := v1.NewHash(d); err == nil && len(h.Hex) > 12 {
		return h.Algorithm + ":" + h.Hex[:12]
	}
	return d
}

package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/env"
	"github.com/skiff-dev/skiff/internal/gitinfo"
	"github.com/skiff-dev/skiff/internal/manifest"
	"github.com/skiff-dev/skiff/internal/release"
	"github.com/skiff-dev/skiff/internal/secrets"
)

func newReleaseCmd(s *session) *cobra.Command {
	return group("release", "Create, list and show releases stored as OCI artifacts",
		"A release is one OCI artifact holding the hydrated manifests of every long-lived\n"+
			"environment, the artifacts file, a changelog and metadata. Deploying with\n"+
			"skiff env deploy NAME --release TAG applies exactly the stored bytes, verified by\n"+
			"digest, so staging and production get identical manifests.",
		newReleaseCreateCmd(s), newReleaseShowCmd(s), newReleaseListCmd(s))
}

// releaseCreateOptions are skiff release create's.
type releaseCreateOptions struct {
	s            *session
	tag          string
	artifacts    string
	changelogOut string
	dotenv       string
	gitlab       bool
}

func newReleaseCreateCmd(s *session) *cobra.Command {
	o := &releaseCreateOptions{s: s}
	cmd := &cobra.Command{
		Use:     "create",
		Short:   "Render every long-lived environment and push the release artifact",
		Example: "  skiff release create --tag \"$CI_COMMIT_TAG\" -a build.json --changelog-output release-notes.md --dotenv release.env",
		Args:    args(cobra.NoArgs),
		RunE:    func(cmd *cobra.Command, _ []string) error { return runVerb(cmd.Context(), o) },
	}
	fl := cmd.Flags()
	fl.StringVar(&o.tag, "tag", "", "release tag (default: CI_COMMIT_TAG, else the tag of HEAD)")
	fl.StringVarP(&o.artifacts, "build-artifacts", "a", "", "artifacts file of the build to release (skiff build --file-output); - reads standard input")
	fl.StringVar(&o.changelogOut, "changelog-output", "", "also write the changelog (Markdown) to this file")
	fl.StringVar(&o.dotenv, "dotenv", "", "write "+env.DotenvRelease+"=<repository>@sha256:… (the release by digest) to this file: a GitLab dotenv report, or $GITHUB_OUTPUT")
	fl.BoolVar(&o.gitlab, "gitlab-release", false, "also create the tag's GitLab release (name, changelog, a link to the artifact) through GitLab's Releases API with the job's CI_JOB_TOKEN")
	return cmd
}

func (o *releaseCreateOptions) Validate() error { return nil }

func (o *releaseCreateOptions) Run(ctx context.Context) error {
	s := o.s
	p, err := s.project()
	if err != nil {
		return err
	}
	if o.artifacts == "" && len(p.Artifacts()) > 0 {
		return usageError("pass -a FILE, the artifacts file of skiff build --file-output, with the images of this release")
	}
	var builds *artifact.File
	if o.artifacts != "" {
		if builds, err = artifact.ReadFile(o.artifacts, s.streams.In); err != nil {
			return err
		}
	}
	facts := s.facts(p)
	tag := firstNonEmpty(o.tag, facts.Tag())
	if tag == "" {
		return usageError("no tag: pass --tag, or run on a tagged commit (CI_COMMIT_TAG)")
	}
	app := p.Name()
	repo, err := s.releaseRepo(p, app)
	if err != nil {
		return err
	}
	var gitlab release.GitLabProject
	if o.gitlab {
		// Checked first: nothing is pushed when the release cannot be made.
		if gitlab, err = release.GitLabProjectFromEnv(os.Getenv); err != nil {
			return err
		}
	}
	reg := s.registry(p)
	req := release.CreateRequest{
		App: app, Tag: tag, Repository: repo, Builds: builds, Git: facts.Repo, Commit: facts.CICommit,
		Render: func(ctx context.Context, name string) (release.RenderedEnvironment, error) {
			return s.renderEnvironment(ctx, p, facts, name, builds)
		},
	}
	for _, e := range p.Environments() {
		if !e.Dynamic {
			req.Environments = append(req.Environments, e.Name)
		}
	}
	if len(req.Environments) == 0 {
		return fmt.Errorf("%s defines no long-lived environment to release; add staging or production to its environments", p.File)
	}
	if facts.Repo == nil {
		s.warn("no changelog: %v", facts.RepoErr)
	}
	res, err := release.Create(ctx, &release.Store{Client: reg}, req)
	if err != nil {
		return err
	}
	for _, w := range res.Warnings {
		s.warn("%s", w)
	}
	if o.changelogOut != "" {
		if err := writeFileAtomic(o.changelogOut, []byte(res.Package.Changelog)); err != nil {
			return err
		}
	}
	if o.dotenv != "" {
		if err := writeFileAtomic(o.dotenv, []byte(env.DotenvRelease+"="+res.Ref.String()+"\n")); err != nil {
			return err
		}
	}
	if o.gitlab {
		if err := s.publishGitLab(ctx, p, gitlab, tag, res); err != nil {
			return fmt.Errorf("release %s is pushed as %s, but %w", tag, res.Ref, err)
		}
	}
	fmt.Fprintf(s.streams.Err, "release %s of %s: %s\n", tag, app, strings.Join(req.Environments, ", "))
	fmt.Fprintln(s.streams.Out, res.Ref.String())
	return nil
}

// publishGitLab creates the GitLab release of tag: "<app> <tag>", the
// changelog, and a link to release.url (else the project's container
// registry page).
func (s *session) publishGitLab(ctx context.Context, p *config.Project, gl release.GitLabProject, tag string, res *release.CreateResult) error {
	link := os.Getenv("CI_PROJECT_URL") + "/container_registry"
	if p.Skiff != nil && p.Skiff.Release != nil && p.Skiff.Release.URL != "" {
		link = p.Skiff.Release.URL
	}
	name := p.Name() + " " + tag
	rel := release.GitLabRelease{TagName: tag, Name: name, Description: res.Package.Changelog}
	if link != "/container_registry" {
		rel.Links = []release.GitLabLink{{Name: name + " (OCI release artifact)", URL: link, Type: "package"}}
	}
	// GitLab expands variables in the release keyword's links; so does this.
	for i := range rel.Links {
		rel.Links[i].URL = os.ExpandEnv(rel.Links[i].URL)
	}
	u, err := release.PublishGitLab(ctx, gl, rel)
	if err != nil {
		return fmt.Errorf("creating its GitLab release: %w", err)
	}
	fmt.Fprintf(s.streams.Err, "GitLab release %s created%s\n", name, strings.TrimSuffix(" "+u, " "))
	return nil
}

// renderEnvironment renders environment name of p with its profiles into
// its namespace, for a release.
func (s *session) renderEnvironment(ctx context.Context, p *config.Project, facts *gitinfo.Facts, name string, builds *artifact.File) (release.RenderedEnvironment, error) {
	p, e, err := s.environment(p, name)
	if err != nil {
		return release.RenderedEnvironment{}, err
	}
	t, err := envTarget(p, e, facts, env.Ref{})
	if err != nil {
		return release.RenderedEnvironment{}, err
	}
	var bs []artifact.Build
	if builds != nil {
		bs = builds.Builds
	}
	objs, err := s.renderInto(p, s.registry(p), bs, "")(ctx, t.Namespace)
	if err != nil {
		return release.RenderedEnvironment{}, err
	}
	if err := secrets.CheckNoPlainSecrets(*e, objs); err != nil {
		return release.RenderedEnvironment{}, err
	}
	var buf bytes.Buffer
	if err := manifest.Encode(&buf, objs); err != nil {
		return release.RenderedEnvironment{}, err
	}
	return release.RenderedEnvironment{Name: name, Namespace: t.Namespace, Manifests: buf.Bytes()}, nil
}

// releaseShowOptions are skiff release show's.
type releaseShowOptions struct {
	s      *session
	output string
	ref    string
}

func newReleaseShowCmd(s *session) *cobra.Command {
	o := &releaseShowOptions{s: s}
	cmd := &cobra.Command{
		Use:   "show REF",
		Short: "Show a release: metadata, environments, images and changelog",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			o.ref = a[0]
			return runVerb(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	return cmd
}

func (o *releaseShowOptions) Validate() error { return checkOutput(o.output, "text", "json") }

func (o *releaseShowOptions) Run(ctx context.Context) error {
	p, err := o.s.optionalProject()
	if err != nil {
		return err
	}
	app := ""
	if p != nil {
		app = p.Name()
	}
	ref, err := o.s.releaseRef(p, app, o.ref)
	if err != nil {
		return err
	}
	rel, err := (&release.Store{Client: o.s.registry(p)}).Get(ctx, ref)
	if err != nil {
		return err
	}
	changelog, err := rel.Changelog(ctx)
	if err != nil {
		return err
	}
	w := o.s.streams.Out
	if o.output == "json" {
		return writeJSON(w, struct {
			Ref string `json:"ref"`
			release.Metadata
			Changelog string `json:"changelog"`
		}{rel.Ref.String(), rel.Metadata, changelog})
	}
	m := rel.Metadata
	fmt.Fprintf(w, "Release:  %s %s\nRef:      %s\nCommit:   %s\nCreated:  %s\n", m.App, m.Tag, rel.Ref, dash(m.Commit), m.Created.Local().Format(time.RFC3339))
	fmt.Fprintln(w, "Environments:")
	for _, e := range m.Environments {
		fmt.Fprintf(w, "  %-12s namespace %-20s %3d objects  %s\n", e.Name, dash(e.Namespace), e.Objects, e.Digest)
	}
	fmt.Fprintln(w, "Images:")
	for _, b := range m.Images {
		fmt.Fprintf(w, "  %s → %s\n", b.ImageName, b.Tag)
	}
	fmt.Fprintf(w, "\n%s", changelog)
	return nil
}

// releaseListOptions are skiff release list's.
type releaseListOptions struct {
	s      *session
	output string
}

func newReleaseListCmd(s *session) *cobra.Command {
	o := &releaseListOptions{s: s}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the application's releases, newest first",
		Args:  args(cobra.NoArgs),
		RunE:  func(cmd *cobra.Command, _ []string) error { return runVerb(cmd.Context(), o) },
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	return cmd
}

func (o *releaseListOptions) Validate() error { return checkOutput(o.output, "table", "json") }

func (o *releaseListOptions) Run(ctx context.Context) error {
	p, err := o.s.project()
	if err != nil {
		return err
	}
	repo, err := o.s.releaseRepo(p, p.Name())
	if err != nil {
		return err
	}
	rels, err := (&release.Store{Client: o.s.registry(p)}).List(ctx, repo)
	if err != nil {
		return err
	}
	if o.output == "json" {
		type item struct {
			Ref string `json:"ref"`
			release.Metadata
		}
		items := []item{}
		for _, r := range rels {
			items = append(items, item{r.Ref.String(), r.Metadata})
		}
		return writeJSON(o.s.streams.Out, items)
	}
	w := tabwriter.NewWriter(o.s.streams.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TAG\tCREATED\tCOMMIT\tENVIRONMENTS\tDIGEST")
	for _, r := range rels {
		commit := r.Metadata.Commit
		if len(commit) > 8 {
			commit = commit[:8]
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.Metadata.Tag, r.Metadata.Created.Local().Format("2006-01-02 15:04"), dash(commit), strings.Join(r.Environments(), ","), r.Ref.DigestStr())
	}
	return w.Flush()
}

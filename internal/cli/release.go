package cli

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/env"
	"github.com/skiff-dev/skiff/internal/gitinfo"
	"github.com/skiff-dev/skiff/internal/manifest"
	"github.com/skiff-dev/skiff/internal/release"
	"github.com/spf13/cobra"
)

func newReleaseCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "release",
		Short: "Create, list and show releases stored as OCI artifacts",
		Long: "A release is one OCI artifact holding the hydrated manifests of every long-lived\n" +
			"environment, the artifacts file, a changelog and metadata. Deploying with\n" +
			"skiff env deploy NAME --release TAG applies exactly the stored bytes, verified by\n" +
			"digest, so staging and production get identical manifests.",
	}
	cmd.AddCommand(newReleaseCreateCmd(g), newReleaseShowCmd(g), newReleaseListCmd(g))
	return cmd
}

func newReleaseCreateCmd(g *globalOptions) *cobra.Command {
	var tag, artifacts, changelogOut string
	cmd := &cobra.Command{
		Use:     "create",
		Short:   "Render every long-lived environment and push the release artifact",
		Example: "  skiff release create --tag \"$CI_COMMIT_TAG\" -a build.json --changelog-output release-notes.md",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			p, err := g.loadProject(cmd)
			if err != nil {
				return err
			}
			app := p.Name()
			if artifacts == "" && len(p.Artifacts()) > 0 {
				return usageError("pass -a FILE, the artifacts file of skiff build --file-output, with the images of this release")
			}
			var builds *artifact.File
			if artifacts != "" {
				if builds, err = artifact.ReadFile(artifacts, g.streams.In); err != nil {
					return err
				}
			}
			tag = firstNonEmpty(tag, os.Getenv("CI_COMMIT_TAG"))
			gitRepo, gitErr := gitinfo.Open(".")
			if tag == "" && gitErr == nil {
				if tags, err := gitRepo.Tags(); err == nil && len(tags) > 0 {
					tag = tags[0]
				}
			}
			if tag == "" {
				return usageError("no tag: pass --tag, or run on a tagged commit (CI_COMMIT_TAG)")
			}
			meta := release.Metadata{App: app, Tag: tag, Commit: os.Getenv("CI_COMMIT_SHA"), Created: time.Now().UTC().Truncate(time.Second)}
			changelog := fmt.Sprintf("## %s\n", tag)
			var gi *gitinfo.Release
			if gitErr == nil {
				gi, gitErr = gitRepo.ReleaseOf(tag)
			}
			if gitErr == nil {
				meta.Commit, changelog = firstNonEmpty(meta.Commit, gi.Commit), gi.Changelog(tag)
			} else {
				g.warn("no changelog: %v", gitErr)
			}
			pkg := &release.Package{Metadata: meta, Manifests: map[string][]byte{}, Artifacts: builds, Changelog: changelog}
			for _, e := range p.Environments() {
				if e.Dynamic {
					continue
				}
				data, ns, err := g.renderEnvironmentBytes(cmd, p, e.Name, builds)
				if err != nil {
					return fmt.Errorf("environment %s: %w", e.Name, err)
				}
				pkg.Manifests[e.Name] = data
				pkg.Metadata.Environments = append(pkg.Metadata.Environments, release.EnvironmentInfo{Name: e.Name, Namespace: ns})
			}
			if len(pkg.Manifests) == 0 {
				return fmt.Errorf("%s defines no long-lived environment to release; add staging or production to its environments", p.File)
			}
			repo, err := release.Repository(releaseRepo(p), g.DefaultRepo, app)
			if err != nil {
				return err
			}
			ref, err := g.releaseStore(p).Push(ctx, repo, pkg)
			if err != nil {
				return err
			}
			if changelogOut != "" {
				if err := writeFileAtomic(changelogOut, []byte(changelog)); err != nil {
					return err
				}
			}
			var envs []string
			for _, e := range pkg.Metadata.Environments {
				envs = append(envs, e.Name)
			}
			fmt.Fprintf(g.streams.Err, "release %s of %s: %s\n", tag, app, strings.Join(envs, ", "))
			fmt.Fprintln(g.streams.Out, ref.String())
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&tag, "tag", "", "release tag (default: CI_COMMIT_TAG, else the tag of HEAD)")
	fl.StringVarP(&artifacts, "build-artifacts", "a", "", "artifacts file of the build to release (skiff build --file-output)")
	fl.StringVar(&changelogOut, "changelog-output", "", "also write the changelog (Markdown) to this file")
	return cmd
}

// renderEnvironmentBytes renders environment name of p with its profiles
// into its namespace and returns the YAML and the namespace.
func (g *globalOptions) renderEnvironmentBytes(cmd *cobra.Command, p *config.Project, name string, builds *artifact.File) ([]byte, string, error) {
	p, e, err := g.withEnvironmentProfiles(cmd, p, name)
	if err != nil {
		return nil, "", err
	}
	t, err := resolveTarget(p.Name(), e, env.Ref{})
	if err != nil {
		return nil, "", err
	}
	var bs []artifact.Build
	if builds != nil {
		bs = builds.Builds
	}
	objs, err := g.renderForEnvironment(cmd.Context(), p, bs, "", t.Namespace)
	if err != nil {
		return nil, "", err
	}
	var buf bytes.Buffer
	if err := manifest.Encode(&buf, objs); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), t.Namespace, nil
}

func newReleaseShowCmd(g *globalOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "show REF",
		Short: "Show a release: metadata, environments, images and changelog",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "text", "json"); err != nil {
				return err
			}
			var p *config.Project
			app := ""
			if g.hasConfig() {
				var err error
				if p, err = g.loadProject(cmd); err != nil {
					return err
				}
				app = p.Name()
			}
			rel, err := g.fetchRelease(cmd.Context(), p, app, args[0])
			if err != nil {
				return err
			}
			changelog, err := rel.Changelog(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(g.streams.Out, struct {
					Ref string `json:"ref"`
					release.Metadata
					Changelog string `json:"changelog"`
				}{rel.Ref.String(), rel.Metadata, changelog})
			}
			m := rel.Metadata
			w := g.streams.Out
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
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func newReleaseListCmd(g *globalOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the application's releases, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "table", "json"); err != nil {
				return err
			}
			p, err := g.loadProject(cmd)
			if err != nil {
				return err
			}
			repo, err := release.Repository(releaseRepo(p), g.DefaultRepo, p.Name())
			if err != nil {
				return err
			}
			rels, err := g.releaseStore(p).List(cmd.Context(), repo)
			if err != nil {
				return err
			}
			if output == "json" {
				type item struct {
					Ref string `json:"ref"`
					release.Metadata
				}
				items := []item{}
				for _, r := range rels {
					items = append(items, item{r.Ref.String(), r.Metadata})
				}
				return writeJSON(g.streams.Out, items)
			}
			w := tabwriter.NewWriter(g.streams.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "TAG\tCREATED\tCOMMIT\tENVIRONMENTS\tDIGEST")
			for _, r := range rels {
				commit := r.Metadata.Commit
				if len(commit) > 8 {
					commit = commit[:8]
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.Metadata.Tag, r.Metadata.Created.Local().Format("2006-01-02 15:04"), dash(commit), strings.Join(r.Environments(), ","), r.Ref.DigestStr())
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/skiff-dev/skiff/internal/pipeline"
	"github.com/skiff-dev/skiff/internal/pipeline/github"
	"github.com/skiff-dev/skiff/internal/pipeline/gitlab"
	"github.com/spf13/cobra"
)

func newCICmd(s *session) *cobra.Command {
	return group("ci", "Generate GitLab CI or GitHub Actions pipelines",
		"Generate the CI configuration of the project's pipelines from skiff.yaml's\n"+
			"environments and pipeline section. Every job calls only skiff, so\n"+
			"`skiff pipeline run` runs the same jobs on this machine.",
		newCIGitLabCmd(s), newCIGitHubCmd(s))
}

// ciOptions are the generators' options: which one, and its flags.
type ciOptions struct {
	s      *session
	github bool
	output string
	check  bool
}

func (o *ciOptions) Validate() error {
	if o.check && (o.output == "" || o.output == "-") {
		if o.github {
			return usageError("--check needs -o DIR")
		}
		return usageError("--check needs -o FILE")
	}
	return nil
}

func (o *ciOptions) Run(context.Context) error {
	p, err := o.s.project()
	if err != nil {
		return err
	}
	graph, err := pipeline.FromProject(p)
	if err != nil {
		return err
	}
	src := filepath.ToSlash(p.File)
	out := o.s.streams.Out
	if !o.github {
		data, err := gitlab.Generate(graph, gitlab.Options{Source: src})
		if err != nil {
			return err
		}
		if o.output == "" || o.output == "-" {
			_, err := out.Write(data)
			return err
		}
		return o.write([]pipeline.File{{Path: o.output, Data: data}}, "skiff ci gitlab -o "+o.output)
	}
	files, err := github.Generate(graph, github.Options{Source: src})
	if err != nil {
		return err
	}
	if o.output == "" || o.output == "-" {
		for i, f := range files {
			if i > 0 {
				fmt.Fprintln(out, "---")
			}
			fmt.Fprintf(out, "# %s\n", f.Path)
			if _, err := out.Write(f.Data); err != nil {
				return err
			}
		}
		return nil
	}
	for i := range files {
		files[i].Path = filepath.Join(o.output, files[i].Path)
	}
	return o.write(files, "skiff ci github -o "+o.output)
}

func (o *ciOptions) addFlags(cmd *cobra.Command, what string) {
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "write "+what+" instead of printing to stdout")
	cmd.Flags().BoolVar(&o.check, "check", false, "do not write; fail if the file(s) named by -o differ from what would be generated")
}

func newCIGitLabCmd(s *session) *cobra.Command {
	o := &ciOptions{s: s}
	cmd := &cobra.Command{
		Use:   "gitlab",
		Short: "Generate .gitlab-ci.yml",
		Long: "Generate a .gitlab-ci.yml: merge-request pipelines (tests, build, a review\n" +
			"environment per merge request with a manual stop job), tag pipelines (tests,\n" +
			"build, release, staging, production behind a manual gate), default-branch\n" +
			"pipelines (tests, build) and a scheduled `skiff env gc`.",
		Example: "  skiff ci gitlab -o .gitlab-ci.yml\n  skiff ci gitlab -o .gitlab-ci.yml --check   # in CI: is the file current?",
		Args:    args(cobra.NoArgs),
		RunE:    func(cmd *cobra.Command, _ []string) error { return runVerb(cmd.Context(), o) },
	}
	o.addFlags(cmd, "the file FILE (e.g. .gitlab-ci.yml)")
	return cmd
}

func newCIGitHubCmd(s *session) *cobra.Command {
	o := &ciOptions{s: s, github: true}
	cmd := &cobra.Command{
		Use:   "github",
		Short: "Generate GitHub Actions workflows",
		Long: "Generate GitHub Actions workflows: pull requests (tests, build, a review\n" +
			"environment per pull request, removed when it closes), tags (tests, build,\n" +
			"release, staging, production as a protected environment), default-branch\n" +
			"pushes (tests, build) and a scheduled `skiff env gc`. Give production\n" +
			"required reviewers in the repository's environment settings: that is its gate.",
		Example: "  skiff ci github -o .github/workflows",
		Args:    args(cobra.NoArgs),
		RunE:    func(cmd *cobra.Command, _ []string) error { return runVerb(cmd.Context(), o) },
	}
	o.addFlags(cmd, "the workflow files into DIR (e.g. .github/workflows)")
	return cmd
}

// errStale is returned by --check when a generated file is out of date.
var errStale = errors.New("generated CI configuration is out of date")

// write writes files, or with --check compares them with what is there.
func (o *ciOptions) write(files []pipeline.File, regen string) error {
	if o.check {
		var stale []string
		for _, f := range files {
			old, err := os.ReadFile(f.Path)
			if err != nil || !bytes.Equal(old, f.Data) {
				stale = append(stale, f.Path)
			}
		}
		if len(stale) > 0 {
			return fmt.Errorf("%w: %v; run %s", errStale, stale, regen)
		}
		fmt.Fprintf(o.s.streams.Err, "up to date: %d file(s)\n", len(files))
		return nil
	}
	for _, f := range files {
		if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(f.Path, f.Data, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(o.s.streams.Err, "wrote %s\n", f.Path)
	}
	return nil
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/pipeline"
	"github.com/skiff-dev/skiff/internal/pipeline/local"
	"github.com/spf13/cobra"
)

func newPipelineCmd(s *session) *cobra.Command {
	return group("pipeline", "Run the CI pipeline's job graph on this machine",
		"Run the jobs that `skiff ci gitlab|github` generates on this machine, with the\n"+
			"same commands, or one of the pipeline's test suites.",
		newPipelineRunCmd(s), newPipelineTestCmd(s))
}

// pipelineRunOptions are skiff pipeline run's.
type pipelineRunOptions struct {
	s            *session
	passOn       []string
	event        string
	ref          string
	mergeRequest string
	approve      []string
	parallel     int
	follow       bool
	output       string
}

func newPipelineRunCmd(s *session) *cobra.Command {
	o := &pipelineRunOptions{s: s}
	cmd := &cobra.Command{
		Use:   "run --event merge_request|tag|push|schedule",
		Short: "Run a pipeline's jobs locally, in parallel where their needs allow",
		Long: "Run the jobs an event's pipeline has, in the project directory, with the CI_*\n" +
			"variables a CI system would set. Jobs run in parallel where their needs allow;\n" +
			"each job's log is kept in .skiff/pipelines/<id>/<job>.log. Manual jobs run only\n" +
			"when --approve names their environment: without it the run stops at the\n" +
			"production gate. Exit code 1 when a job fails, 3 when a job needs a skiff\n" +
			"command that is not implemented yet.",
		Example: "  skiff pipeline run --event merge_request\n" +
			"  skiff pipeline run --event tag --ref v1.0.0 --approve production",
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.passOn = passedOn(cmd)
			return runVerb(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.event, "event", "", "the event to run the pipeline of: merge_request, tag, push or schedule")
	f.StringVar(&o.ref, "ref", "", "branch or tag the pipeline runs for (default: the tag of HEAD for tag pipelines, else the current branch)")
	f.StringVar(&o.mergeRequest, "merge-request", "", "merge request number (CI_MERGE_REQUEST_IID) for merge_request pipelines")
	f.StringArrayVar(&o.approve, "approve", nil, "run the manual jobs of this environment (or job); repeatable")
	f.IntVar(&o.parallel, "parallel", 4, "jobs running at once at most")
	f.BoolVar(&o.follow, "follow", false, "also print every job's output on stderr, prefixed with the job's name")
	f.StringVarP(&o.output, "output", "o", "table", "summary format: table or json")
	return cmd
}

func (o *pipelineRunOptions) Validate() error {
	if o.event == "" {
		return usageError("--event is required: merge_request, tag, push or schedule")
	}
	if _, err := pipeline.ParseEvent(o.event); err != nil {
		return usageError("--event: %v", err)
	}
	return checkOutput(o.output, "table", "json")
}

func (o *pipelineRunOptions) Run(ctx context.Context) error {
	g := o.s
	event, _ := pipeline.ParseEvent(o.event)
	p, err := g.project()
	if err != nil {
		return err
	}
	graph, err := pipeline.FromProject(p)
	if err != nil {
		return err
	}
	checkout, gitErr := local.ReadCheckout(p.WorkDir)
	ref := o.ref
	if ref == "" {
		if gitErr != nil {
			return usageError("no --ref given, and git cannot tell the ref (%v); pass --ref", gitErr)
		}
		if ref, err = checkout.DefaultRef(event); err != nil {
			return usageError("%v", err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the skiff executable the jobs run: %w", err)
	}
	progress := &progressPrinter{g: g, dir: p.WorkDir}
	opts := local.Options{
		Event: event, Ref: ref, MergeRequest: o.mergeRequest, Approve: o.approve,
		Dir: p.WorkDir, Skiff: self, Parallel: o.parallel, Update: progress.update,
	}
	if gitErr == nil {
		// The jobs run on the working tree, whatever --ref says.
		opts.Commit = checkout.Commit
	}
	if o.follow {
		opts.Output = g.streams.Err
	}
	opts.SkiffArgs = o.passOn
	if jobs := graph.For(event); len(jobs) > 0 {
		fmt.Fprintf(g.streams.Err, "%s pipeline for %s: %d jobs\n", event, ref, len(jobs))
	}
	res, err := local.Run(ctx, graph, opts)
	if err != nil {
		return err
	}
	if o.output == "json" {
		if err := writeJSON(g.streams.Out, res); err != nil {
			return err
		}
	} else {
		printSummary(g, p.WorkDir, res)
	}
	return pipelineError(res)
}

// passedOn are the global flags given to skiff pipeline run that its jobs'
// skiff commands need too: which configuration, cluster and registry.
// Profiles are not passed on: each job activates its own.
func passedOn(cmd *cobra.Command) []string {
	var args []string
	for _, name := range []string{"filename", "kubeconfig", "kube-context", "default-repo", "insecure-registry", "verbosity"} {
		f := cmd.Flags().Lookup(name)
		if f == nil || !f.Changed {
			continue
		}
		if sv, ok := f.Value.(interface{ GetSlice() []string }); ok {
			for _, v := range sv.GetSlice() {
				args = append(args, "--"+name, v)
			}
			continue
		}
		args = append(args, "--"+name, f.Value.String())
	}
	return args
}

// pipelineError turns a pipeline's outcome into skiff's exit code.
func pipelineError(res *local.Result) error {
	var names []string
	for _, j := range res.Jobs {
		if j.Status == res.Status {
			names = append(names, j.Name)
		}
	}
	switch res.Status {
	case local.Failed, local.Canceled:
		return fmt.Errorf("pipeline %s %s: %s", res.ID, res.Status, strings.Join(names, ", "))
	case local.NotImplemented:
		return fmt.Errorf("pipeline %s stopped: %s needs a skiff command that is %w", res.ID, strings.Join(names, ", "), ErrNotImplemented)
	}
	return nil
}

// progressPrinter prints job state changes on stderr as they happen.
type progressPrinter struct {
	g   *session
	dir string
}

var statusMark = map[local.Status]string{
	local.Running: "▶", local.Passed: "✓", local.Failed: "✗", local.NotImplemented: "✗",
	local.Skipped: "–", local.Manual: "⏸", local.AwaitingApproval: "⏸", local.Blocked: "⏸", local.Canceled: "✗",
}

func (pp *progressPrinter) update(u local.Update) {
	w := pp.g.streams.Err
	line := fmt.Sprintf("%s %s %-16s %s", u.Time.Format("15:04:05"), statusMark[u.Status], u.Job, u.Status)
	if u.Duration > 0 {
		line += " in " + formatDuration(u.Duration)
	}
	if u.Reason != "" {
		line += ": " + u.Reason
	}
	if u.Status == local.Failed || u.Status == local.NotImplemented {
		line += " (log: " + relPath(pp.dir, u.Log) + ")"
	}
	fmt.Fprintln(w, line)
	if u.Status == local.Failed {
		for _, l := range tailLines(u.Log, 10) {
			fmt.Fprintf(w, "    │ %s\n", l)
		}
	}
}

func printSummary(g *session, dir string, res *local.Result) {
	tw := tabwriter.NewWriter(g.streams.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSTAGE\tSTATUS\tDURATION\tDETAIL")
	for _, j := range res.Jobs {
		d := ""
		if j.Duration > 0 {
			d = formatDuration(j.Duration)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", j.Name, j.Stage, j.Status, d, j.Reason)
	}
	_ = tw.Flush()
	fmt.Fprintf(g.streams.Out, "pipeline %s: %s (logs in %s)\n", res.ID, res.Status, relPath(dir, res.Dir))
}

func formatDuration(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

func relPath(base, path string) string {
	if rel, err := filepath.Rel(base, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}

// tailLines returns the last n lines of a file, for failed jobs' logs.
func tailLines(path string, n int) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// pipelineTestOptions are skiff pipeline test's.
type pipelineTestOptions struct {
	s     *session
	suite string
}

func newPipelineTestCmd(s *session) *cobra.Command {
	o := &pipelineTestOptions{s: s}
	return &cobra.Command{
		Use:   "test SUITE",
		Short: "Run one of the test suites of the pipeline section",
		Long: "Run a test suite's command (pipeline.tests[].command in skiff.yaml) with sh in\n" +
			"the project directory. CI jobs call this, so their scripts call only skiff.",
		Example: "  skiff pipeline test unit",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			o.suite = a[0]
			return runVerb(cmd.Context(), o)
		},
	}
}

func (o *pipelineTestOptions) Validate() error { return nil }

func (o *pipelineTestOptions) Run(ctx context.Context) error {
	p, err := o.s.project()
	if err != nil {
		return err
	}
	suite, err := testSuite(p, o.suite)
	if err != nil {
		return err
	}
	c := exec.CommandContext(ctx, "sh", "-c", suite.Command)
	c.Dir = p.WorkDir
	c.Stdin, c.Stdout, c.Stderr = o.s.streams.In, o.s.streams.Out, o.s.streams.Err
	start := time.Now()
	err = c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		// Always exit 1: the suite's own code could mean something
		// else to skiff's callers (3 is "not implemented").
		return fmt.Errorf("test suite %s failed (%s, after %s)", suite.Name, ee.ProcessState, formatDuration(time.Since(start)))
	}
	if err != nil {
		return fmt.Errorf("test suite %s: %w", suite.Name, err)
	}
	return nil
}

func testSuite(p *config.Project, name string) (*config.PipelineTest, error) {
	var names []string
	if p.Skiff != nil && p.Skiff.CI != nil {
		for i, t := range p.Skiff.CI.Tests {
			if t.Name == name {
				return &p.Skiff.CI.Tests[i], nil
			}
			names = append(names, t.Name)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("test suite %q: %s has no pipeline.tests; add them to its skiff/v1 document", name, p.File)
	}
	return nil, fmt.Errorf("test suite %q is not in pipeline.tests of %s (suites: %s)", name, p.File, strings.Join(names, ", "))
}

package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/skiff-dev/skiff/internal/pipeline"
	"golang.org/x/sync/errgroup"
)

// Status is the state of a job or of a whole pipeline.
type Status string

// Job and pipeline states.
const (
	Pending          Status = "pending"
	Running          Status = "running"
	Passed           Status = "passed"
	Failed           Status = "failed"
	NotImplemented   Status = "not implemented" // a skiff command exited with code 3
	Skipped          Status = "skipped"         // a job it needs did not pass
	Manual           Status = "manual"          // an optional manual job nobody started
	AwaitingApproval Status = "waiting for approval"
	Blocked          Status = "blocked" // a job it needs waits for approval
	Canceled         Status = "canceled"
)

// exitNotImplemented is skiff's exit code for a command that has not landed.
const exitNotImplemented = 3

// Options say how to run a pipeline.
type Options struct {
	Event pipeline.Event
	// Ref is the branch or tag the pipeline runs for.
	Ref string
	// Commit is the commit's SHA, if known (CI_COMMIT_SHA).
	Commit string
	// MergeRequest is the merge request's number (CI_MERGE_REQUEST_IID).
	MergeRequest string
	// Approve names environments (or jobs) whose manual jobs may run.
	Approve []string
	// Dir is the project directory: jobs run there and logs go to
	// Dir/.skiff/pipelines/<id>/.
	Dir string
	// Skiff is the skiff executable that runs the jobs' skiff commands.
	Skiff string
	// SkiffArgs are global flags put before every skiff command's own
	// arguments (the -f or --kube-context the pipeline was run with).
	SkiffArgs []string
	// Parallel bounds the jobs running at once; 0 means 4.
	Parallel int
	// Environ is the environment jobs start from; nil means os.Environ().
	// CI_* variables in it are replaced by the pipeline's.
	Environ []string
	// Runner runs the commands; nil means Exec{}.
	Runner Runner
	// Update, if set, is called (from several goroutines, one call at a
	// time) whenever a job changes state.
	Update func(Update)
	// Output, if set, also receives every job's output, line by line,
	// prefixed with the job's name.
	Output io.Writer
}

// Update reports a job's new state.
type Update struct {
	Job    string
	Status Status
	Reason string
	Log    string
	Time   time.Time
	// Duration is how long the job ran, once it finished.
	Duration time.Duration
}

// Result is what a pipeline run did.
type Result struct {
	ID     string         `json:"id"`
	Dir    string         `json:"dir"` // where the logs are
	Event  pipeline.Event `json:"event"`
	Ref    string         `json:"ref"`
	Status Status         `json:"status"`
	Jobs   []*JobResult   `json:"jobs"`
}

// JobResult is what one job did.
type JobResult struct {
	Name     string        `json:"name"`
	Stage    string        `json:"stage"`
	Status   Status        `json:"status"`
	Reason   string        `json:"reason,omitempty"`
	Log      string        `json:"log,omitempty"`
	ExitCode int           `json:"exitCode,omitempty"`
	Started  time.Time     `json:"started,omitzero"`
	Duration time.Duration `json:"duration,omitempty"`
}

// Run runs the jobs g has for opts.Event. A job that fails is part of the
// result, not an error; Run fails only when it cannot run the pipeline.
func Run(ctx context.Context, g *pipeline.Graph, opts Options) (*Result, error) {
	jobs := g.For(opts.Event)
	if len(jobs) == 0 {
		return nil, fmt.Errorf("the configuration has no jobs for %s pipelines", opts.Event)
	}
	if opts.Ref == "" {
		return nil, errors.New("no ref to run the pipeline for")
	}
	if opts.Runner == nil {
		opts.Runner = Exec{}
	}
	if opts.Environ == nil {
		opts.Environ = os.Environ()
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 4
	}
	id, dir, err := newRunDir(filepath.Join(opts.Dir, ".skiff", "pipelines"))
	if err != nil {
		return nil, err
	}
	r := &run{g: g, opts: opts, id: id, dir: dir, results: map[string]*JobResult{}, done: map[string]chan struct{}{}}
	res := &Result{ID: id, Dir: dir, Event: opts.Event, Ref: opts.Ref}
	for _, j := range jobs {
		jr := &JobResult{Name: j.Name, Stage: j.Stage, Status: Pending}
		r.results[j.Name] = jr
		r.done[j.Name] = make(chan struct{})
		res.Jobs = append(res.Jobs, jr)
	}
	sem := make(chan struct{}, opts.Parallel)
	var eg errgroup.Group
	for _, j := range jobs {
		eg.Go(func() error {
			defer close(r.done[j.Name])
			r.schedule(ctx, j, sem)
			return nil
		})
	}
	_ = eg.Wait() // jobs report through their results
	res.Status = overall(res.Jobs)
	if err := writeSummary(res); err != nil {
		return res, err
	}
	return res, nil
}

// run is one pipeline run in progress.
type run struct {
	g    *pipeline.Graph
	opts Options
	id   string
	dir  string

	mu      sync.Mutex // guards results' fields and Update calls
	results map[string]*JobResult
	done    map[string]chan struct{} // closed when the job is final
}

// schedule waits for j's needs, decides whether j runs, and runs it.
func (r *run) schedule(ctx context.Context, j *pipeline.Job, sem chan struct{}) {
	for _, n := range j.Needs {
		select {
		case <-r.done[n]:
		case <-ctx.Done():
			r.set(j.Name, Canceled, "the pipeline was interrupted", nil)
			return
		}
	}
	if st, reason := r.gate(j); st != "" {
		r.set(j.Name, st, reason, nil)
		return
	}
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		r.set(j.Name, Canceled, "the pipeline was interrupted", nil)
		return
	}
	defer func() { <-sem }()
	r.runJob(ctx, j)
}

// gate says why j does not run, if it does not: a need that did not pass,
// or a manual rule without approval.
func (r *run) gate(j *pipeline.Job) (Status, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range j.Needs {
		switch st := r.results[n].Status; st {
		case Passed:
		case AwaitingApproval, Blocked, Manual:
			return Blocked, "needs " + n + " (" + string(st) + ")"
		default:
			return Skipped, "needs " + n + " (" + string(st) + ")"
		}
	}
	rule, _ := j.Rule(r.opts.Event)
	if rule.When != pipeline.Manual || r.approved(j) {
		return "", ""
	}
	what := j.Name
	if j.Environment != nil {
		what = j.Environment.Name
	}
	if rule.AllowFailure {
		return Manual, "manual job; run it with --approve " + what
	}
	return AwaitingApproval, "manual gate; approve with --approve " + what
}

func (r *run) approved(j *pipeline.Job) bool {
	for _, a := range r.opts.Approve {
		if a == j.Name || j.Environment != nil && a == j.Environment.Name {
			return true
		}
	}
	return false
}

// set records a job's state and reports it.
func (r *run) set(job string, st Status, reason string, change func(*JobResult)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	jr := r.results[job]
	jr.Status, jr.Reason = st, reason
	if change != nil {
		change(jr)
	}
	if r.opts.Update != nil {
		u := Update{Job: job, Status: st, Reason: reason, Log: jr.Log, Time: time.Now()}
		if st != Running {
			u.Duration = jr.Duration
		}
		r.opts.Update(u)
	}
}

// overall is a pipeline's status from its jobs'.
func overall(jobs []*JobResult) Status {
	has := func(st Status) bool {
		return slices.ContainsFunc(jobs, func(j *JobResult) bool { return j.Status == st })
	}
	for _, st := range []Status{Failed, Canceled, NotImplemented, AwaitingApproval} {
		if has(st) {
			return st
		}
	}
	return Passed
}

// newRunDir creates the next numbered run directory under root.
func newRunDir(root string) (string, string, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", "", fmt.Errorf("creating the pipeline log directory: %w", err)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return "", "", err
	}
	next := 1
	for _, e := range entries {
		if n, err := strconv.Atoi(e.Name()); err == nil && n >= next {
			next = n + 1
		}
	}
	for ; ; next++ {
		dir := filepath.Join(root, strconv.Itoa(next))
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return strconv.Itoa(next), dir, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", "", fmt.Errorf("creating the pipeline log directory: %w", err)
		}
	}
}

func writeSummary(res *Result) error {
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(res.Dir, "pipeline.json"), append(data, '\n'), 0o644)
}

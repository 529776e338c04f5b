package local

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/skiff-dev/skiff/internal/pipeline"
)

// runJob runs j's commands in order and records the outcome.
func (r *run) runJob(ctx context.Context, j *pipeline.Job) {
	logPath := filepath.Join(r.dir, LogName(j.Name))
	start := time.Now()
	r.set(j.Name, Running, "", func(jr *JobResult) { jr.Log, jr.Started = logPath, start })
	st, reason, code := r.execute(ctx, j, logPath)
	r.set(j.Name, st, reason, func(jr *JobResult) {
		jr.Duration = time.Since(start).Round(time.Millisecond)
		jr.ExitCode = code
	})
}

// LogName is the file a job's log is written to in the run directory.
func LogName(job string) string {
	return unsafeFileChars.ReplaceAllString(job, "-") + ".log"
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func (r *run) execute(ctx context.Context, j *pipeline.Job, logPath string) (Status, string, int) {
	f, err := os.Create(logPath)
	if err != nil {
		return Failed, fmt.Sprintf("creating its log: %v", err), 0
	}
	defer f.Close()
	var out io.Writer = f
	if r.opts.Output != nil {
		pw := &prefixWriter{prefix: "[" + j.Name + "] ", w: r.opts.Output, mu: &r.mu}
		defer pw.Flush()
		out = io.MultiWriter(f, pw)
	}
	fmt.Fprintf(out, "# job %s (stage %s) of pipeline %s: %s pipeline for %s\n", j.Name, j.Stage, r.id, r.opts.Event, r.opts.Ref)
	if err := r.restoreArtifacts(j); err != nil {
		fmt.Fprintf(out, "skiff: %v\n", err)
		return Failed, err.Error(), 0
	}
	vars := r.variables(j)
	env := environ(r.opts.Environ, vars)
	for _, c := range j.Script {
		line := c
		if c[0] == "skiff" && len(r.opts.SkiffArgs) > 0 {
			line = append(append(pipeline.Command{"skiff"}, r.opts.SkiffArgs...), c[1:]...)
		}
		args := make([]string, len(line))
		for i, a := range line {
			args[i] = pipeline.ExpandVars(a, vars)
		}
		fmt.Fprintf(out, "$ %s\n", line)
		if args[0] == "skiff" && r.opts.Skiff != "" {
			args[0] = r.opts.Skiff
		}
		err := r.opts.Runner.Run(ctx, Cmd{Args: args, Dir: r.opts.Dir, Env: env, Output: out})
		if err == nil {
			continue
		}
		code := exitCode(err)
		fmt.Fprintf(out, "skiff: job %s: %s: %v\n", j.Name, c, err)
		switch {
		case ctx.Err() != nil:
			return Canceled, "the pipeline was interrupted", code
		case code == exitNotImplemented:
			return NotImplemented, fmt.Sprintf("%s is not implemented yet", strings.Join(c[:min(len(c), 3)], " ")), code
		case code >= 0:
			return Failed, fmt.Sprintf("exit code %d", code), code
		}
		return Failed, err.Error(), code
	}
	if err := r.saveArtifacts(j); err != nil {
		fmt.Fprintf(out, "skiff: %v\n", err)
		return Failed, err.Error(), 0
	}
	return Passed, "", 0
}

// variables are the job's variables: the CI_* ones a CI system would set,
// then the pipeline's and the job's own (which may reference the former).
func (r *run) variables(j *pipeline.Job) map[string]string {
	o := r.opts
	v := map[string]string{
		"CI":                 "true",
		"CI_PIPELINE_ID":     r.id,
		"CI_PIPELINE_SOURCE": "push",
		"CI_COMMIT_REF_NAME": o.Ref,
		"CI_COMMIT_REF_SLUG": gitlabRefSlug(o.Ref),
		"CI_PROJECT_DIR":     o.Dir,
		"CI_JOB_NAME":        j.Name,
		"CI_JOB_STAGE":       j.Stage,
		"CI_DEFAULT_BRANCH":  r.g.DefaultBranch,
	}
	switch o.Event {
	case pipeline.MergeRequest:
		v["CI_PIPELINE_SOURCE"] = "merge_request_event"
		v["CI_MERGE_REQUEST_SOURCE_BRANCH_NAME"] = o.Ref
		if o.MergeRequest != "" {
			v["CI_MERGE_REQUEST_IID"] = o.MergeRequest
		}
	case pipeline.Tag:
		v["CI_COMMIT_TAG"] = o.Ref
	case pipeline.Push, pipeline.Schedule:
		v["CI_COMMIT_BRANCH"] = o.Ref
		if o.Event == pipeline.Schedule {
			v["CI_PIPELINE_SOURCE"] = "schedule"
		}
		if v["CI_DEFAULT_BRANCH"] == "" {
			v["CI_DEFAULT_BRANCH"] = o.Ref
		}
	}
	if v["CI_DEFAULT_BRANCH"] == "" {
		delete(v, "CI_DEFAULT_BRANCH")
	}
	if o.Commit != "" {
		v["CI_COMMIT_SHA"] = o.Commit
		v["CI_COMMIT_SHORT_SHA"] = o.Commit[:min(8, len(o.Commit))]
	}
	if e := j.Environment; e != nil {
		v["CI_ENVIRONMENT_NAME"] = e.Name
		if e.Dynamic {
			v["CI_ENVIRONMENT_NAME"] = e.Name + "/" + o.Ref
		}
		v["CI_ENVIRONMENT_ACTION"] = string(e.Action)
	}
	if rule, _ := j.Rule(o.Event); rule.When == pipeline.Manual {
		v["CI_JOB_MANUAL"] = "true"
	}
	lookup := func(k string) string {
		if val, ok := v[k]; ok {
			return val
		}
		return getenv(o.Environ, k)
	}
	for _, vars := range []map[string]string{r.g.Variables, j.Variables} {
		for _, k := range sortedKeys(vars) {
			v[k] = os.Expand(vars[k], lookup)
		}
	}
	// As in GitLab, the dotenv reports of the jobs j needs come last: they
	// win over the pipeline's and the job's variables.
	for _, n := range j.Needs {
		if need := r.g.Job(n); need != nil && need.Dotenv != "" {
			for k, val := range readDotenv(filepath.Join(r.artifactDir(n), need.Dotenv)) {
				v[k] = val
			}
		}
	}
	return v
}

// readDotenv reads a dotenv report's KEY=VALUE lines; a missing file is
// an empty report (a job may write none).
func readDotenv(path string) map[string]string {
	vars := map[string]string{}
	data, err := os.ReadFile(path)
	if err != nil {
		return vars
	}
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if k, val, ok := strings.Cut(line, "="); ok && k != "" && !strings.HasPrefix(line, "#") {
			vars[k] = val
		}
	}
	return vars
}

// environ is base without its CI_* variables (a pipeline run inside a CI job
// must not inherit that job's tag or ref), plus vars.
func environ(base []string, vars map[string]string) []string {
	var out []string
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := vars[k]; ok || strings.HasPrefix(k, "CI_") {
			continue
		}
		out = append(out, kv)
	}
	for _, k := range sortedKeys(vars) {
		out = append(out, k+"="+vars[k])
	}
	return out
}

func getenv(env []string, k string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if key, val, ok := strings.Cut(env[i], "="); ok && key == k {
			return val
		}
	}
	return ""
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Artifacts are kept per job under <run dir>/artifacts/<job>/ and copied
// into the project directory before a job that needs them runs, as a CI
// system downloads them.
func (r *run) artifactDir(job string) string {
	return filepath.Join(r.dir, "artifacts", strings.TrimSuffix(LogName(job), ".log"))
}

func (r *run) saveArtifacts(j *pipeline.Job) error {
	if j.Dotenv != "" {
		if src := filepath.Join(r.opts.Dir, j.Dotenv); fileExists(src) {
			if err := copyTree(src, filepath.Join(r.artifactDir(j.Name), j.Dotenv)); err != nil {
				return fmt.Errorf("keeping dotenv report %s: %w", j.Dotenv, err)
			}
		}
	}
	for _, p := range j.Artifacts {
		src := filepath.Join(r.opts.Dir, p)
		if _, err := os.Stat(src); err != nil {
			return fmt.Errorf("the job did not write its artifact %s", p)
		}
		if err := copyTree(src, filepath.Join(r.artifactDir(j.Name), p)); err != nil {
			return fmt.Errorf("keeping artifact %s: %w", p, err)
		}
	}
	return nil
}

func (r *run) restoreArtifacts(j *pipeline.Job) error {
	for _, n := range j.Needs {
		need := r.g.Job(n)
		for _, p := range need.Artifacts {
			if err := copyTree(filepath.Join(r.artifactDir(n), p), filepath.Join(r.opts.Dir, p)); err != nil {
				return fmt.Errorf("restoring artifact %s of job %s: %w", p, n, err)
			}
		}
	}
	return nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// copyTree copies a file, or a directory's regular files, to dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}

var gitlabSlugInvalid = regexp.MustCompile(`[^a-z0-9]+`)

// gitlabRefSlug is GitLab's predefined CI_COMMIT_REF_SLUG, which jobs may
// read: lower case, runs outside [a-z0-9] replaced by "-", at most 63
// characters, no leading or trailing "-". It is not injective, so skiff
// itself never names anything with it (env.RefSlug does that).
func gitlabRefSlug(ref string) string {
	s := gitlabSlugInvalid.ReplaceAllString(strings.ToLower(ref), "-")
	if len(s) > 63 {
		s = s[:63]
	}
	return strings.Trim(s, "-")
}

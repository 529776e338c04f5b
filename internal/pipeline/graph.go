package pipeline

import (
	"fmt"
	"slices"
	"time"
)

// Event is what starts a pipeline.
type Event string

// The events a pipeline runs for.
const (
	MergeRequest Event = "merge_request"
	Tag          Event = "tag"
	Push         Event = "push" // a push to the default branch
	Schedule     Event = "schedule"
)

// Events lists every event in the order pipelines are described.
var Events = []Event{MergeRequest, Tag, Push, Schedule}

// ParseEvent accepts an event name.
func ParseEvent(s string) (Event, error) {
	for _, e := range Events {
		if string(e) == s {
			return e, nil
		}
	}
	return "", fmt.Errorf("unknown event %q (use merge_request, tag, push or schedule)", s)
}

// Graph is the job graph of a project's pipelines.
type Graph struct {
	// App is the application's name.
	App string
	// Image is the container image jobs run in ("" = the runner's default).
	Image string
	// DefaultBranch is the branch whose pushes run a pipeline ("" = the CI
	// system's default).
	DefaultBranch string
	// Variables are set in every job.
	Variables map[string]string
	// Stages orders the jobs for CI systems that group them.
	Stages []string
	// Jobs in stage order.
	Jobs []*Job
	// Tags are GitLab runner tags; RunsOn is GitHub's runner label; Schedule
	// is the cron expression for scheduled pipelines where the CI
	// configuration carries it.
	Tags     []string
	RunsOn   string
	Schedule string
	// TagFilter is a glob of the tags that run the tag pipeline where the CI
	// configuration filters them (GitHub); empty for every tag.
	TagFilter string
}

// Job is one unit of a pipeline: commands that run in order in one place.
type Job struct {
	Name  string
	Stage string
	// Needs are the jobs that must succeed first; their artifacts are
	// available to this job.
	Needs []string
	// Script lists the commands; each is an argument vector whose first
	// element is "skiff". Arguments may reference variables as $NAME or
	// ${NAME} (CI_COMMIT_TAG, CI_COMMIT_REF_NAME, …).
	Script []Command
	// Rules say which events run the job, and how.
	Rules []Rule
	// Image overrides the graph's image.
	Image string
	// Environment is what the job deploys to or stops, if anything.
	Environment *Environment
	// ResourceGroup serializes jobs that share it, across pipelines.
	ResourceGroup string
	// Artifacts are paths, relative to the project directory, that the job
	// produces and passes to the jobs that need it.
	Artifacts []string
	// Dotenv is the file of KEY=VALUE lines the job's deploy writes
	// (DeployDotenv), whose DotenvURL is the environment's URL; empty when
	// the job deploys nothing.
	Dotenv string
	// Exports are variables of Dotenv that the jobs needing this one read
	// (VarRelease): GitLab passes every dotenv variable on to them by
	// itself, GitHub only the job outputs named here.
	Exports []string
	// Variables are set for this job.
	Variables map[string]string
	// IDTokens are the JWTs the CI system signs for the job, by the
	// variable that holds each, with its audience (GitLab's id_tokens):
	// VAULT_ID_TOKEN when the environment the job deploys logs in to
	// Vault with the jwt method.
	IDTokens map[string]string
	// NoCheckout marks a job that runs without the repository (GitLab's
	// GIT_STRATEGY: none): it gets everything it needs on the command line.
	NoCheckout bool
	// FullHistory asks for the whole git history, not the CI system's
	// shallow clone (skiff cleanup --registry reads which commits branches
	// still reach).
	FullHistory bool
	// PublishRelease marks the job whose skiff release create also makes
	// the CI system's release of the tag (GitLab: --gitlab-release, through
	// GitLab's Releases API, since skiff's image has no release-cli for
	// GitLab's release keyword).
	PublishRelease bool
}

// Command is one command line as an argument vector.
type Command []string

// When says how a job starts once its needs are met.
type When string

// Ways a job starts.
const (
	OnSuccess When = ""       // automatically
	Manual    When = "manual" // when someone starts or approves it
)

// Rule runs a job for an event.
type Rule struct {
	On   Event
	When When
	// AllowFailure, for a manual job, lets the pipeline finish without it;
	// a manual job without it is a gate that blocks the pipeline.
	AllowFailure bool
}

// Action is what a job does to its environment.
type Action string

// Environment actions.
const (
	Start Action = "start"
	Stop  Action = "stop"
)

// Environment describes the environment a job deploys to or stops.
type Environment struct {
	// Name is the skiff environment's name (review, staging, production).
	Name string
	// Dynamic environments exist once per ref.
	Dynamic bool
	// URL is the environment's url template (Go template over .App, .Name,
	// .Ref, .RefSlug, .MergeRequest, .User and env), empty if none. The CI
	// systems never expand it: they take the URL skiff deployed from the
	// job's Dotenv.
	URL    string
	Action Action
	// OnStop names the job that stops the environment.
	OnStop string
	// AutoStopIn is the lifetime of a dynamic environment (0 = forever).
	AutoStopIn time.Duration
	// Tier is GitLab's deployment tier: development, staging, production.
	Tier string
	// Protected environments need approval (GitHub: required reviewers).
	Protected bool
}

// Rule returns the job's rule for event e.
func (j *Job) Rule(e Event) (Rule, bool) {
	for _, r := range j.Rules {
		if r.On == e {
			return r, true
		}
	}
	return Rule{}, false
}

// Job returns the job called name, or nil.
func (g *Graph) Job(name string) *Job {
	for _, j := range g.Jobs {
		if j.Name == name {
			return j
		}
	}
	return nil
}

// For lists the jobs that event e runs, in graph order.
func (g *Graph) For(e Event) []*Job {
	var out []*Job
	for _, j := range g.Jobs {
		if _, ok := j.Rule(e); ok {
			out = append(out, j)
		}
	}
	return out
}

// Check verifies the graph's invariants: unique names, known stages, needs
// that exist in every event the needing job runs for, and no cycles.
func (g *Graph) Check() error {
	seen := map[string]bool{}
	for _, j := range g.Jobs {
		if seen[j.Name] {
			return fmt.Errorf("job %q is defined twice", j.Name)
		}
		seen[j.Name] = true
		if !slices.Contains(g.Stages, j.Stage) {
			return fmt.Errorf("job %q: unknown stage %q", j.Name, j.Stage)
		}
		if len(j.Script) == 0 {
			return fmt.Errorf("job %q has no commands", j.Name)
		}
		for _, c := range j.Script {
			if len(c) == 0 || c[0] != "skiff" {
				return fmt.Errorf("job %q: command %q does not call skiff", j.Name, c)
			}
		}
	}
	for _, j := range g.Jobs {
		for _, n := range j.Needs {
			need := g.Job(n)
			if need == nil {
				return fmt.Errorf("job %q needs %q, which does not exist", j.Name, n)
			}
			for _, r := range j.Rules {
				if _, ok := need.Rule(r.On); !ok {
					return fmt.Errorf("job %q needs %q, which does not run for %s pipelines", j.Name, n, r.On)
				}
			}
			if slices.Index(g.Stages, need.Stage) > slices.Index(g.Stages, j.Stage) {
				return fmt.Errorf("job %q (stage %s) needs %q of a later stage (%s)", j.Name, j.Stage, n, need.Stage)
			}
		}
	}
	return g.checkCycles()
}

func (g *Graph) checkCycles() error {
	state := map[string]int{} // 0 unvisited, 1 visiting, 2 done
	var visit func(name string, chain []string) error
	visit = func(name string, chain []string) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("jobs need each other in a cycle: %v", append(chain, name))
		case 2:
			return nil
		}
		state[name] = 1
		for _, n := range g.Job(name).Needs {
			if err := visit(n, append(chain, name)); err != nil {
				return err
			}
		}
		state[name] = 2
		return nil
	}
	for _, j := range g.Jobs {
		if err := visit(j.Name, nil); err != nil {
			return err
		}
	}
	return nil
}

// File is a generated file: a path relative to where it is written, and
// its content.
type File struct {
	Path string
	Data []byte
}

package pipeline

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/skiff-dev/skiff/internal/config"
)

// Stages of the generated pipelines, in order.
var Stages = []string{"test", "build", "review", "release", "staging", "production", "maintenance"}

// Files the jobs pass between them, relative to the project directory.
const (
	// BuildOutput is the artifacts file skiff build writes (Skaffold's
	// --file-output format).
	BuildOutput = "build.json"
	// ReleaseNotes is the changelog skiff release create writes beside
	// the release (GitLab's release gets the same text as its description).
	ReleaseNotes = "release-notes.md"
	// DeployDotenv is what skiff env deploy --dotenv writes: the deployed
	// environment, namespace and URL as KEY=VALUE lines. GitLab reads it as
	// the job's dotenv report, GitHub as the deploy step's outputs.
	DeployDotenv = "deploy.env"
	// DotenvURL is the variable of DeployDotenv that holds the URL skiff
	// deployed (env.DotenvURL): the generated pipelines set the
	// environment's URL from it, because only skiff computes the
	// injective ref slug the URL template may use.
	DotenvURL = "SKIFF_URL"
	// ReleaseDotenv is what skiff release create --dotenv writes:
	// VarRelease, the release by digest.
	ReleaseDotenv = "release.env"
)

// Names of the jobs that do not depend on the configuration.
const (
	JobBuild        = "build"         // push to the default branch
	JobBuildReview  = "build:review"  // merge requests
	JobBuildRelease = "build:release" // tags
	JobRelease      = "release"
	JobGC           = "gc"
	JobCleanup      = "cleanup"
)

// Predefined variables the job commands use. The CI system sets them (the
// GitHub workflows map them from GitHub's contexts), and so does
// skiff pipeline run.
const (
	VarTag     = "CI_COMMIT_TAG"
	VarRefName = "CI_COMMIT_REF_NAME"
	// VarRelease is the release by digest (repository@sha256:…), from the
	// dotenv report of the release job, then of each deploy of it
	// (env.DotenvRelease): staging and production deploy exactly what the
	// release job pushed, even if the tag is pushed again meanwhile.
	VarRelease = "SKIFF_RELEASE"
)

// roles are the environments the pipelines deploy to; nil when absent.
type roles struct {
	review, staging, production *config.Environment
}

// DefaultImage is the image CI jobs run in when pipeline.image does not
// name one: skiff's own (make image builds it; the release workflow
// publishes it on every tag).
const DefaultImage = "ghcr.io/skiff-dev/skiff:latest"

// FromProject builds the job graph of p's pipelines from its environments
// and pipeline section.
func FromProject(p *config.Project) (*Graph, error) {
	cfg := config.CIPipeline{}
	if p.Skiff != nil && p.Skiff.CI != nil {
		cfg = *p.Skiff.CI
	}
	r, err := findRoles(p, cfg)
	if err != nil {
		return nil, err
	}
	if err := checkTestNames(p, cfg, r); err != nil {
		return nil, err
	}
	if cfg.Image == "" {
		cfg.Image = DefaultImage
	}
	b := &planner{p: p, cfg: cfg, roles: r, app: p.Name(), build: len(p.Artifacts()) > 0}
	g := &Graph{
		App:           b.app,
		Image:         cfg.Image,
		DefaultBranch: cfg.DefaultBranch,
		Variables:     cfg.Variables,
		Stages:        Stages,
		Tags:          cfg.Tags,
		RunsOn:        cfg.RunsOn,
		Schedule:      cfg.Schedule,
	}
	if prod := r.production; prod != nil && !strings.ContainsAny(prod.RequireTag, "<>=^~| ") {
		g.TagFilter = prod.RequireTag
	}
	g.Jobs = b.jobs()
	if err := g.Check(); err != nil {
		return nil, fmt.Errorf("internal error: the job graph of %s is inconsistent: %w", p.File, err)
	}
	return g, nil
}

func findRoles(p *config.Project, cfg config.CIPipeline) (roles, error) {
	var r roles
	pick := func(field, name, fallback string) (*config.Environment, error) {
		switch name {
		case "none":
			return nil, nil
		case "":
			envs := p.Environments()
			for i := range envs {
				if envs[i].Name == fallback {
					return &envs[i], nil
				}
			}
			return nil, nil
		}
		env, err := p.Environment(name)
		if err != nil {
			return nil, p.PipelineError("pipeline."+field, err.Error())
		}
		return env, nil
	}
	review, err := findReview(p, cfg.Review)
	if err != nil {
		return r, err
	}
	r.review = review
	if r.staging, err = pick("staging", cfg.Staging, "staging"); err != nil {
		return r, err
	}
	if r.production, err = pick("production", cfg.Production, "production"); err != nil {
		return r, err
	}
	for _, role := range []struct {
		field string
		env   *config.Environment
	}{{"staging", r.staging}, {"production", r.production}} {
		field, env := role.field, role.env
		if env != nil && env.Dynamic {
			return r, p.PipelineError("pipeline."+field, fmt.Sprintf("environment %q is dynamic; %s must be a long-lived environment (set pipeline.%s, or none)", env.Name, field, field))
		}
	}
	if r.staging != nil && r.production != nil && r.staging.Name == r.production.Name {
		return r, p.PipelineError("pipeline.staging", fmt.Sprintf("staging and production are both environment %q", r.staging.Name))
	}
	for _, env := range []*config.Environment{r.review, r.staging, r.production} {
		if env != nil && (slices.Contains(fixedJobs, env.Name) || !jobName.MatchString(env.Name)) {
			return r, p.PipelineError("environments", fmt.Sprintf("environment %q cannot name a pipeline job; rename it (names: letters, digits, - and _, not %s)", env.Name, strings.Join(fixedJobs, ", ")))
		}
	}
	return r, nil
}

// fixedJobs are the jobs whose names do not come from the configuration.
var fixedJobs = []string{JobBuild, JobBuildReview, JobBuildRelease, JobRelease, JobGC}

// findReview is the review environment: the one pipeline.review names, else
// the first dynamic one.
func findReview(p *config.Project, name string) (*config.Environment, error) {
	switch name {
	case "none":
		return nil, nil
	case "":
		envs := p.Environments()
		for i := range envs {
			if envs[i].Dynamic {
				return &envs[i], nil
			}
		}
		return nil, nil
	}
	env, err := p.Environment(name)
	if err != nil {
		return nil, p.PipelineError("pipeline.review", err.Error())
	}
	if !env.Dynamic {
		return nil, p.PipelineError("pipeline.review", fmt.Sprintf("environment %q is not dynamic; a review environment exists once per merge request (set dynamic: true on it)", env.Name))
	}
	return env, nil
}

var jobName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)

// reservedJobNames are GitLab's top-level keywords, which cannot name jobs.
var reservedJobNames = []string{"image", "services", "stages", "types", "before_script", "after_script", "variables", "cache", "include", "workflow", "default", "pages", "true", "false", "nil"}

func checkTestNames(p *config.Project, cfg config.CIPipeline, r roles) error {
	taken := slices.Clone(fixedJobs)
	for _, env := range []*config.Environment{r.review, r.staging, r.production} {
		if env != nil {
			taken = append(taken, env.Name, "stop_"+env.Name)
		}
	}
	seen := map[string]bool{}
	for i, t := range cfg.Tests {
		path := fmt.Sprintf("pipeline.tests[%d].name", i)
		switch {
		case !jobName.MatchString(t.Name):
			return p.PipelineError(path, fmt.Sprintf("%q cannot name a CI job; use letters, digits, - and _, starting with a letter", t.Name))
		case slices.Contains(reservedJobNames, t.Name):
			return p.PipelineError(path, fmt.Sprintf("%q is a GitLab keyword and cannot name a job; rename the suite", t.Name))
		case slices.Contains(taken, t.Name):
			return p.PipelineError(path, fmt.Sprintf("%q is also the name of a pipeline job; rename the suite", t.Name))
		case seen[t.Name]:
			return p.PipelineError(path, fmt.Sprintf("test suite %q is defined twice", t.Name))
		}
		seen[t.Name] = true
	}
	return nil
}

// planner assembles the jobs.
type planner struct {
	p     *config.Project
	cfg   config.CIPipeline
	roles roles
	app   string
	build bool // the project builds images
}

func (b *planner) jobs() []*Job {
	var jobs []*Job
	var tests []string
	for _, t := range b.cfg.Tests {
		jobs = append(jobs, &Job{
			Name:   t.Name,
			Stage:  "test",
			Needs:  []string{},
			Script: []Command{{"skiff", "pipeline", "test", t.Name}},
			Rules:  []Rule{{On: MergeRequest}, {On: Tag}, {On: Push}},
			Image:  t.Image,
		})
		tests = append(tests, t.Name)
	}
	if b.build {
		jobs = append(jobs,
			b.buildJob(JobBuildReview, MergeRequest, b.roles.review, tests, ""),
			b.buildJob(JobBuildRelease, Tag, b.roles.production, tests, "$"+VarTag),
			b.buildJob(JobBuild, Push, b.roles.production, tests, ""),
		)
	}
	if env := b.roles.review; env != nil {
		jobs = append(jobs, b.reviewJobs(env, b.after(JobBuildReview, tests))...)
	}
	// A release packs the manifests of the long-lived environments: without
	// any, the tag pipeline ends with the build.
	if b.roles.staging != nil || b.roles.production != nil {
		jobs = append(jobs, b.releaseJobs(b.after(JobBuildRelease, tests))...)
	}
	if b.hasDynamic() {
		jobs = append(jobs, &Job{
			Name:   JobGC,
			Stage:  "maintenance",
			Needs:  []string{},
			Script: []Command{{"skiff", "env", "gc"}},
			Rules:  []Rule{{On: Schedule}},
		})
	}
	if len(b.p.Artifacts()) > 0 && len(b.p.Environments()) > 0 {
		// Only with environments: their release records are how skiff
		// knows what runs. After gc, so that what expired environments ran
		// is no longer needed.
		needs := []string{}
		if b.hasDynamic() {
			needs = []string{JobGC}
		}
		jobs = append(jobs, &Job{
			Name:        JobCleanup,
			Stage:       "maintenance",
			Needs:       needs,
			Script:      []Command{{"skiff", "cleanup", "--registry"}},
			Rules:       []Rule{{On: Schedule}},
			FullHistory: true,
		})
	}
	return jobs
}

// hasDynamic reports whether any environment is dynamic: only those expire
// and need the scheduled garbage collection.
func (b *planner) hasDynamic() bool {
	for _, e := range b.p.Environments() {
		if e.Dynamic {
			return true
		}
	}
	return false
}

// after is what a job following the build needs: the build job when the
// project builds, else the tests.
func (b *planner) after(build string, tests []string) []string {
	if b.build {
		return []string{build}
	}
	return slices.Clone(tests)
}

func (b *planner) buildJob(name string, on Event, env *config.Environment, tests []string, tag string) *Job {
	cmd := Command{"skiff", "build"}
	if env != nil && len(env.Profiles) > 0 {
		cmd = append(cmd, "-p", strings.Join(env.Profiles, ","))
	}
	if tag != "" {
		cmd = append(cmd, "-t", tag)
	}
	cmd = append(cmd, "--file-output", BuildOutput)
	return &Job{
		Name:      name,
		Stage:     "build",
		Needs:     slices.Clone(tests),
		Script:    []Command{cmd},
		Rules:     []Rule{{On: on}},
		Artifacts: []string{BuildOutput},
	}
}

func (b *planner) reviewJobs(env *config.Environment, needs []string) []*Job {
	stop := "stop_" + env.Name
	// The review namespace is a function of the ref, so one group per ref
	// serialises every deploy and stop of one namespace and never makes two
	// refs wait for each other. The ref name itself is that key: GitLab's
	// CI_COMMIT_REF_SLUG is not (feature/login and feature-login share
	// one), and skiff's injective slug is only known once the job runs.
	group := env.Name + "/$" + VarRefName
	deploy := Command{"skiff", "env", "deploy", env.Name, "--ref", "$" + VarRefName}
	if b.build {
		deploy = append(deploy, "-a", BuildOutput)
	}
	deploy = append(withKubeContext(deploy, env), "--dotenv", DeployDotenv)
	ttl, _ := config.ParseDuration(env.TTL) // checked by the loader
	// The stop job runs without a checkout (the branch may be gone), so it
	// names everything skiff env stop needs; skiff finds the environment
	// by its labels in the cluster.
	stopCmd := withKubeContext(Command{"skiff", "env", "stop", env.Name, "--ref", "$" + VarRefName, "--app", b.app}, env)
	return []*Job{{
		Name:     env.Name,
		Stage:    "review",
		Needs:    needs,
		Script:   []Command{deploy},
		Rules:    []Rule{{On: MergeRequest}},
		Dotenv:   DeployDotenv,
		IDTokens: idTokens(env),
		Environment: &Environment{
			Name: env.Name, Dynamic: true, URL: env.URL, Action: Start,
			OnStop: stop, AutoStopIn: ttl, Tier: "development", Protected: env.Protected,
		},
		ResourceGroup: group,
	}, {
		Name:          stop,
		Stage:         "review",
		Needs:         []string{env.Name},
		Script:        []Command{stopCmd},
		Rules:         []Rule{{On: MergeRequest, When: Manual, AllowFailure: true}},
		Environment:   &Environment{Name: env.Name, Dynamic: true, Action: Stop, Tier: "development"},
		ResourceGroup: group,
		NoCheckout:    true,
	}}
}

// VarVaultIDToken is the variable skiff reads the JWT for Vault's jwt auth
// method from; the deploy jobs of such an environment request it.
const VarVaultIDToken = "VAULT_ID_TOKEN"

// idTokens are the JWTs a job deploying env needs: VAULT_ID_TOKEN with the
// configured audience (else the Vault address, which is what GitLab's
// documentation uses) when env logs in to Vault with the jwt method.
func idTokens(env *config.Environment) map[string]string {
	v := env.Vault
	if v == nil || v.Auth.Method != "jwt" {
		return nil
	}
	aud := v.Auth.Audience
	if aud == "" {
		aud = v.Address
	}
	if aud == "" {
		aud = "$VAULT_ADDR"
	}
	return map[string]string{VarVaultIDToken: aud}
}

// withKubeContext selects env's kubeContext on the command line: in GitLab
// it is the agent's context (path/to/agent-project:agent-name) in the
// KUBECONFIG the agent gives the job.
func withKubeContext(c Command, env *config.Environment) Command {
	if env.KubeContext != "" {
		c = append(c, "--kube-context", env.KubeContext)
	}
	return c
}

func (b *planner) releaseJobs(needs []string) []*Job {
	create := Command{"skiff", "release", "create", "--tag", "$" + VarTag}
	if b.build {
		create = append(create, "-a", BuildOutput)
	}
	create = append(create, "--changelog-output", ReleaseNotes, "--dotenv", ReleaseDotenv)
	jobs := []*Job{{
		Name:           JobRelease,
		Stage:          "release",
		Needs:          needs,
		Script:         []Command{create},
		Rules:          []Rule{{On: Tag}},
		Dotenv:         ReleaseDotenv,
		Exports:        []string{VarRelease},
		PublishRelease: true,
	}}
	prev := JobRelease
	for _, d := range []struct {
		env   *config.Environment
		stage string
	}{{b.roles.staging, "staging"}, {b.roles.production, "production"}} {
		if d.env == nil {
			continue
		}
		cmd := withKubeContext(Command{"skiff", "env", "deploy", d.env.Name, "--release", "$" + VarRelease}, d.env)
		rule := Rule{On: Tag}
		if d.stage == "production" {
			// The only manual job of the tag pipeline: a blocking gate.
			cmd = append(cmd, "--approve")
			rule.When = Manual
		}
		cmd = append(cmd, "--dotenv", DeployDotenv)
		var exports []string
		if d.stage == "staging" {
			exports = []string{VarRelease} // production deploys what staging did
		}
		jobs = append(jobs, &Job{
			Name:          d.env.Name,
			Stage:         d.stage,
			Needs:         []string{prev},
			Script:        []Command{cmd},
			Rules:         []Rule{rule},
			Dotenv:        DeployDotenv,
			Exports:       exports,
			IDTokens:      idTokens(d.env),
			Environment:   &Environment{Name: d.env.Name, URL: d.env.URL, Action: Start, Tier: d.stage, Protected: d.env.Protected},
			ResourceGroup: d.env.Name,
		})
		prev = d.env.Name
	}
	return jobs
}

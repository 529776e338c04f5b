package config

// Release configures release packages stored as OCI artifacts.
type Release struct {
	// Repository receives the release artifacts; default
	// <default repo>/<app>/releases.
	Repository string `yaml:"repository,omitempty"`
	// URL is a web page for the release artifacts, linked from the releases
	// that generated CI pipelines create; default: the GitLab project's
	// container registry page.
	URL string `yaml:"url,omitempty"`
}

// CIPipeline configures the generated CI pipelines (skiff ci) and local
// pipeline runs (skiff pipeline run).
type CIPipeline struct {
	// Image is the container image CI jobs run in; it must provide skiff.
	Image string `yaml:"image,omitempty"`
	// DefaultBranch is the branch whose pushes run a pipeline; default
	// GitLab's $CI_DEFAULT_BRANCH, and "main" for GitHub.
	DefaultBranch string `yaml:"defaultBranch,omitempty"`
	// Tests are the test suites every pipeline runs before building.
	Tests []PipelineTest `yaml:"tests,omitempty"`
	// Review, Staging and Production name the environments of those roles;
	// defaults: the first dynamic environment, "staging", "production".
	// "none" turns a role off.
	Review     string `yaml:"review,omitempty"`
	Staging    string `yaml:"staging,omitempty"`
	Production string `yaml:"production,omitempty"`
	// Variables are set in every job.
	Variables map[string]string `yaml:"variables,omitempty"`
	// Tags are GitLab runner tags every job gets.
	Tags []string `yaml:"tags,omitempty"`
	// RunsOn is the GitHub Actions runner label; default ubuntu-latest.
	RunsOn string `yaml:"runsOn,omitempty"`
	// Schedule is the cron schedule of GitHub's environment garbage
	// collection workflow; default "17 3 * * *". GitLab schedules are set in
	// the project's settings.
	Schedule string `yaml:"schedule,omitempty"`
}

// PipelineTest is a named test suite run by the pipeline.
type PipelineTest struct {
	Name string `yaml:"name" skiff:"required"`
	// Command is a shell command run in the project directory by
	// `skiff pipeline test NAME`.
	Command string `yaml:"command" skiff:"required"`
	// Image overrides the pipeline's image for this suite's CI job.
	Image string `yaml:"image,omitempty"`
}

// PipelineError is a mistake in the skiff/v1 document at a field path
// (e.g. "pipeline.review"), with its position in the file.
func (p *Project) PipelineError(path, msg string) error {
	if p.Skiff == nil {
		return &Error{File: p.File, Path: path, Msg: msg}
	}
	return configErrorAt(p.Skiff, path, msg)
}

package config

// Release configures release packages stored as OCI artifacts.
type Release struct {
	// Repository receives the release artifacts; default
	// <default repo>/<app>/releases.
	Repository string `yaml:"repository,omitempty"`
}

// CIPipeline configures the generated CI pipelines and local pipeline runs.
type CIPipeline struct {
	Image         string            `yaml:"image,omitempty"`
	DefaultBranch string            `yaml:"defaultBranch,omitempty"`
	Tests         []PipelineTest    `yaml:"tests,omitempty"`
	Review        string            `yaml:"review,omitempty"`
	Staging       string            `yaml:"staging,omitempty"`
	Production    string            `yaml:"production,omitempty"`
	Variables     map[string]string `yaml:"variables,omitempty"`
}

// PipelineTest is a named test suite run by the pipeline.
type PipelineTest struct {
	Name    string `yaml:"name" skiff:"required"`
	Command string `yaml:"command" skiff:"required"`
	Image   string `yaml:"image,omitempty"`
}

package config

// Environment is a place the application is deployed to: a namespace in a
// cluster, long-lived (staging, production) or dynamic (one per branch or
// merge request).
type Environment struct {
	Name               string   `yaml:"name" skiff:"required"`
	Namespace          string   `yaml:"namespace,omitempty"`
	Dynamic            bool     `yaml:"dynamic,omitempty"`
	Profiles           []string `yaml:"profiles,omitempty"`
	KubeContext        string   `yaml:"kubeContext,omitempty"`
	As                 string   `yaml:"as,omitempty"`
	AsGroups           []string `yaml:"asGroups,omitempty"`
	TTL                string   `yaml:"ttl,omitempty" skiff:"duration"`
	OnFailure          string   `yaml:"onFailure,omitempty" skiff:"enum=keep|rollback|delete"`
	URL                string   `yaml:"url,omitempty"`
	Protected          bool     `yaml:"protected,omitempty"`
	RequireTag         string   `yaml:"requireTag,omitempty"`
	Approval           string   `yaml:"approval,omitempty" skiff:"enum=required|none"`
	ImmutableNamespace bool     `yaml:"immutableNamespace,omitempty"`
}

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

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

package config

// ClusterDetails is Skaffold's build.cluster: every artifact is built in a
// pod of skiff's own image in a Kubernetes cluster (internal/build/cluster).
type ClusterDetails struct {
	// Namespace of the build pods; default the kube context's namespace.
	Namespace string `yaml:"namespace,omitempty"`
	// ServiceAccount the build pods run as.
	ServiceAccount string `yaml:"serviceAccount,omitempty"`
	// PullSecretName is a Secret mounted at PullSecretMountPath, for
	// Kaniko's Google service-account key (GOOGLE_APPLICATION_CREDENTIALS).
	PullSecretName      string `yaml:"pullSecretName,omitempty"`
	PullSecretPath      string `yaml:"pullSecretPath,omitempty" skiff:"ignored=skiff reads registry credentials from a docker config (dockerConfig), not from a Google service-account key file"`
	PullSecretMountPath string `yaml:"pullSecretMountPath,omitempty"`
	// DockerConfig holds the registry credentials of the build pods.
	DockerConfig *DockerConfig `yaml:"dockerConfig,omitempty"`
	// Resources of the build container.
	Resources *ResourceRequirements `yaml:"resources,omitempty"`
	// Timeout of one artifact's build, a Go duration; default 20m.
	Timeout      string            `yaml:"timeout,omitempty"`
	NodeSelector map[string]string `yaml:"nodeSelector,omitempty"`
	// Tolerations and Volumes are Kubernetes objects (core/v1 Toleration
	// and Volume), read by the cluster builder.
	Tolerations []Any             `yaml:"tolerations,omitempty"`
	Volumes     []Any             `yaml:"volumes,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	RunAsUser   *int64            `yaml:"runAsUser,omitempty"`
	// RandomPullSecret and RandomDockerConfigSecret give the Secret skiff
	// creates for this run a random name (deleted afterwards).
	RandomPullSecret         bool `yaml:"randomPullSecret,omitempty"`
	RandomDockerConfigSecret bool `yaml:"randomDockerConfigSecret,omitempty"`
	// Concurrency bounds the build pods running at once; 0 means no limit.
	Concurrency int    `yaml:"concurrency,omitempty"`
	HTTPProxy   string `yaml:"HTTP_PROXY,omitempty"`
	HTTPSProxy  string `yaml:"HTTPS_PROXY,omitempty"`
}

// DockerConfig is where the build pods' registry credentials come from: a
// Secret holding config.json (SecretName), or this machine's file (Path),
// which skiff copies into a Secret for the run.
type DockerConfig struct {
	Path       string `yaml:"path,omitempty"`
	SecretName string `yaml:"secretName,omitempty"`
}

// ResourceRequirements are the build container's requests and limits.
type ResourceRequirements struct {
	Requests *ResourceRequirement `yaml:"requests,omitempty"`
	Limits   *ResourceRequirement `yaml:"limits,omitempty"`
}

// ResourceRequirement is one set of resource quantities.
type ResourceRequirement struct {
	CPU              string `yaml:"cpu,omitempty"`
	Memory           string `yaml:"memory,omitempty"`
	ResourceStorage  string `yaml:"resourceStorage,omitempty"`
	EphemeralStorage string `yaml:"ephemeralStorage,omitempty"`
}

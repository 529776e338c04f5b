package config

// VerifyTestCase is one post-deployment test (Skaffold's verify): a
// container run to completion, locally or as a Kubernetes Job; its exit code
// is the result.
type VerifyTestCase struct {
	Name          string              `yaml:"name" skiff:"required"`
	Timeout       *int                `yaml:"timeout,omitempty"`
	Container     VerifyContainer     `yaml:"container" skiff:"required"`
	ExecutionMode VerifyExecutionMode `yaml:"executionMode,omitempty"`
}

// VerifyContainer is the container a verify test (or custom action) runs.
type VerifyContainer struct {
	Name    string         `yaml:"name" skiff:"required"`
	Image   string         `yaml:"image" skiff:"required"`
	Command []string       `yaml:"command,omitempty"`
	Args    []string       `yaml:"args,omitempty"`
	Env     []VerifyEnvVar `yaml:"env,omitempty"`
}

// VerifyEnvVar is an environment variable of a verify container.
type VerifyEnvVar struct {
	Name  string `yaml:"name" skiff:"required"`
	Value string `yaml:"value"`
}

// VerifyExecutionMode says where a verify test runs: locally (the default)
// or in the cluster.
type VerifyExecutionMode struct {
	Local             *LocalVerifier             `yaml:"local,omitempty" skiff:"oneOf=verifyMode"`
	KubernetesCluster *KubernetesClusterVerifier `yaml:"kubernetesCluster,omitempty" skiff:"oneOf=verifyMode"`
}

// LocalVerifier runs the test container on this machine.
type LocalVerifier struct {
	UseLocalImages bool `yaml:"useLocalImages,omitempty" skiff:"ignored=images are always resolved in the registry"`
}

// KubernetesClusterVerifier runs the test container as a Kubernetes Job.
type KubernetesClusterVerifier struct {
	// Overrides is inline JSON merged over the generated Job, like
	// kubectl run --overrides.
	Overrides string `yaml:"overrides,omitempty"`
	// JobManifestPath is a Job manifest to use instead of the generated
	// one; its first container is replaced by the test's container.
	JobManifestPath string `yaml:"jobManifestPath,omitempty" skiff:"path"`
}

// Action is a custom action (Skaffold's customActions, run by `skaffold
// exec`). skiff has no exec command; the section is validated and kept so
// projects that use it load unchanged.
type Action struct {
	Name          string              `yaml:"name" skiff:"required"`
	FailFast      *bool               `yaml:"failFast,omitempty"`
	Timeout       *int                `yaml:"timeout,omitempty"`
	ExecutionMode VerifyExecutionMode `yaml:"executionMode,omitempty"`
	Containers    []VerifyContainer   `yaml:"containers" skiff:"required"`
}

package config

// Lifecycle hooks, with Skaffold's schema (pkg/skaffold/schema/latest/
// config.go: BuildHooks, SyncHooks, RenderHooks, DeployHooks and their
// items). internal/hooks runs them.

// HostHook is a command run on the machine running skiff.
type HostHook struct {
	Command []string `yaml:"command" skiff:"required"`
	// OS lists the operating systems (GOOS names) it runs on; empty means
	// all.
	OS []string `yaml:"os,omitempty"`
	// Dir is the command's working directory; empty means skiff's.
	Dir string `yaml:"dir,omitempty" skiff:"path"`
}

// ContainerHook is a command run in a container; which container follows
// from where it is defined.
type ContainerHook struct {
	Command []string `yaml:"command" skiff:"required"`
}

// NamedContainerHook is a command run in the running containers whose pod
// and container names match the globs (path.Match; empty matches all).
type NamedContainerHook struct {
	ContainerHook `yaml:",inline"`
	PodName       string `yaml:"podName" skiff:"required"`
	ContainerName string `yaml:"containerName,omitempty"`
}

// BuildHooks run on the host before and after an artifact's build.
type BuildHooks struct {
	PreHooks  []HostHook `yaml:"before,omitempty"`
	PostHooks []HostHook `yaml:"after,omitempty"`
}

// SyncHookItem is one sync hook: on the host, or in the containers that
// run the synced artifact's image.
type SyncHookItem struct {
	HostHook      *HostHook      `yaml:"host,omitempty" skiff:"oneOf=syncHook"`
	ContainerHook *ContainerHook `yaml:"container,omitempty" skiff:"oneOf=syncHook"`
}

// SyncHooks run before and after files are synced into containers.
type SyncHooks struct {
	PreHooks  []SyncHookItem `yaml:"before,omitempty"`
	PostHooks []SyncHookItem `yaml:"after,omitempty"`
}

// RenderHookItem is one render hook (host only, as in Skaffold).
type RenderHookItem struct {
	HostHook *HostHook `yaml:"host,omitempty"`
}

// RenderHooks run before and after the manifests are rendered.
type RenderHooks struct {
	PreHooks  []RenderHookItem `yaml:"before,omitempty"`
	PostHooks []RenderHookItem `yaml:"after,omitempty"`
}

// DeployHookItem is one deploy hook: on the host, or in named containers.
type DeployHookItem struct {
	HostHook      *HostHook           `yaml:"host,omitempty" skiff:"oneOf=deployHook"`
	ContainerHook *NamedContainerHook `yaml:"container,omitempty" skiff:"oneOf=deployHook"`
}

// DeployHooks run before and after the deployer applies the manifests.
type DeployHooks struct {
	PreHooks  []DeployHookItem `yaml:"before,omitempty"`
	PostHooks []DeployHookItem `yaml:"after,omitempty"`
}

// Empty reports whether no hook is defined.
func (h DeployHooks) Empty() bool { return len(h.PreHooks)+len(h.PostHooks) == 0 }

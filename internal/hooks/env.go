package hooks

import (
	"strconv"
	"strings"
)

// Static are the variables every host hook gets (Skaffold's
// StaticEnvOpts, less its RPC and HTTP API ports: skiff has no such API).
type Static struct {
	// DefaultRepo is --default-repo; SKAFFOLD_DEFAULT_REPO is set only when
	// it is.
	DefaultRepo string
	// WorkDir is SKAFFOLD_WORK_DIR, the directory skiff runs in.
	WorkDir string
	// Extra are variables skiff exports to the processes it runs that the
	// environment does not have (the project's skaffold.env).
	Extra map[string]string
}

func (s Static) env() []string {
	var out []string
	if s.DefaultRepo != "" {
		out = append(out, "SKAFFOLD_DEFAULT_REPO="+s.DefaultRepo)
	}
	return append(out, "SKAFFOLD_WORK_DIR="+s.WorkDir)
}

// BuildEnv are a build hook's variables (Skaffold's BuildEnvOpts).
type BuildEnv struct {
	// Image is the reference being built (repository:tag).
	Image     string
	PushImage bool
	// ImageRepo and ImageTag are Image's parts.
	ImageRepo, ImageTag string
	// BuildContext is the artifact's context, absolute.
	BuildContext string
}

func (e BuildEnv) env() []string {
	return []string{
		"SKAFFOLD_IMAGE=" + e.Image,
		"SKAFFOLD_PUSH_IMAGE=" + strconv.FormatBool(e.PushImage),
		"SKAFFOLD_IMAGE_REPO=" + e.ImageRepo,
		"SKAFFOLD_IMAGE_TAG=" + e.ImageTag,
		"SKAFFOLD_BUILD_CONTEXT=" + e.BuildContext,
	}
}

// SyncEnv are a sync hook's variables (Skaffold's SyncEnvOpts).
type SyncEnv struct {
	Image, BuildContext string
	// FilesAddedOrModified and FilesDeleted are joined with ";".
	FilesAddedOrModified, FilesDeleted []string
	KubeContext                        string
	// Namespaces are joined with ",".
	Namespaces []string
}

func (e SyncEnv) env() []string {
	return []string{
		"SKAFFOLD_IMAGE=" + e.Image,
		"SKAFFOLD_BUILD_CONTEXT=" + e.BuildContext,
		"SKAFFOLD_FILES_ADDED_OR_MODIFIED=" + strings.Join(e.FilesAddedOrModified, ";"),
		"SKAFFOLD_FILES_DELETED=" + strings.Join(e.FilesDeleted, ";"),
		"SKAFFOLD_KUBE_CONTEXT=" + e.KubeContext,
		"SKAFFOLD_NAMESPACES=" + strings.Join(e.Namespaces, ","),
	}
}

// DeployEnv are a deploy hook's variables (Skaffold's DeployEnvOpts).
type DeployEnv struct {
	RunID, KubeContext string
	Namespaces         []string
}

func (e DeployEnv) env() []string {
	return []string{
		"SKAFFOLD_RUN_ID=" + e.RunID,
		"SKAFFOLD_KUBE_CONTEXT=" + e.KubeContext,
		"SKAFFOLD_NAMESPACES=" + strings.Join(e.Namespaces, ","),
	}
}

// RenderEnv are a render hook's variables (Skaffold's RenderEnvOpts).
type RenderEnv struct {
	KubeContext string
	Namespaces  []string
}

func (e RenderEnv) env() []string {
	return []string{
		"SKAFFOLD_KUBE_CONTEXT=" + e.KubeContext,
		"SKAFFOLD_NAMESPACES=" + strings.Join(e.Namespaces, ","),
	}
}

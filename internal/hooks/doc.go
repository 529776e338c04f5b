// Package hooks runs Skaffold's lifecycle hooks: host commands (run directly
// on this machine, as Skaffold's contract says, never in the build sandbox)
// and commands exec'd in running containers through the Kubernetes API,
// before and after an artifact's build, a file sync, the render and the
// deploy, with Skaffold's SKAFFOLD_* environment variables. Semantics follow
// Skaffold's pkg/skaffold/hooks (env.go, host.go, container.go, build.go,
// sync.go, render.go, deploy.go).
package hooks

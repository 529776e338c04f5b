package dev

import (
	"time"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/artifact"
)

// EventKind says what an Event reports.
type EventKind int

// The events of a dev session, roughly in the order they happen.
const (
	// Phase: a step starts or a state is reached; Message says which.
	Phase EventKind = iota
	// Warning: something the developer should know; the loop goes on.
	Warning
	// Watching: the loop waits for changes; Message describes what is
	// watched.
	Watching
	// ChangesSeen: Files changed; Plan says what happens about them.
	ChangesSeen
	// Built: Builds were built.
	Built
	// BuildFailed: Err says why; the loop waits for the next change.
	BuildFailed
	// Deployed: Changes were applied and are ready.
	Deployed
	// DeployFailed: rendering or applying failed (Err); the loop waits.
	DeployFailed
	// Synced: Sync copied files into running containers.
	Synced
	// SyncFailed: copying failed (Err); the artifact is rebuilt instead.
	SyncFailed
	// Log: a line of a container's log.
	Log
	// Forwarding: a local address forwards to a resource (Forward).
	Forwarding
	// ForwardFailed: a forwarded connection or listener failed (Err).
	ForwardFailed
	// Pending: work waits for Enter (--auto-build/sync/deploy=false).
	Pending
	// CleanedUp: Changes were deleted at exit.
	CleanedUp
)

// Event is something that happened in a dev session. Only the fields of
// its kind are set.
type Event struct {
	Kind    EventKind
	Message string
	Err     error
	// Files are the changed files (ChangesSeen), relative to the project.
	Files []string
	Plan  *Plan
	// Builds are the new builds (Built).
	Builds []artifact.Build
	// Changes are what apply did (Deployed, CleanedUp).
	Changes  []apply.Change
	Sync     *SyncResult
	Line     *LogLine
	Forward  *Forward
	Duration time.Duration
}

// SyncResult says what a sync copied where.
type SyncResult struct {
	Image      string
	Copied     int
	Deleted    int
	Containers []string // namespace/pod/container
}

// LogLine is one line a container wrote.
type LogLine struct {
	Namespace, Pod, Container string
	Text                      string
}

// Forward is a local address forwarding to a resource in the cluster.
type Forward struct {
	// Resource is kind/name, e.g. service/web.
	Resource  string
	Namespace string
	Port      string // the resource's port as configured (number or name)
	Local     string // host:port actually listened on
}

package dockerbuild

import (
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/skiff-dev/skiff/internal/build/cache"
	"github.com/skiff-dev/skiff/internal/build/snapshot"
	"github.com/skiff-dev/skiff/internal/oci"
)

// Options are the inputs of one Dockerfile build.
type Options struct {
	// ContextDir is the build context.
	ContextDir string
	// Dockerfile is the path of the Dockerfile.
	Dockerfile string
	// Target is the stage to build; empty means the last.
	Target string
	// BuildArgs are --build-arg values.
	BuildArgs map[string]string
	// Secrets maps RUN --mount=type=secret ids to host files.
	Secrets map[string]string

	// Registry pulls base images and cached layers.
	Registry *oci.Client
	// Store keeps extracted layers; Blobs keeps compressed layers.
	Store *snapshot.Store
	Blobs *oci.Blobs
	// Snapshotter selects overlayfs or the walk fallback (default: auto).
	Snapshotter snapshot.Kind
	// Cache looks up and stores step results; nil disables caching.
	Cache cache.Cache
	// NoCache skips cache lookups (results are still stored).
	NoCache bool
	// CacheMountDir holds RUN --mount=type=cache directories.
	CacheMountDir string

	// Epoch makes the image reproducible: every time in the config and
	// history is set to it and file times in new layers are clamped to it.
	Epoch *time.Time
	// Compression for new layers (default gzip).
	Compression oci.Compression

	// Isolation is how RUN steps are confined (default auto); see
	// SelectIsolation for what auto picks.
	Isolation Isolation
	// Allow grants entitlements beyond the default confinement.
	Allow Entitlements
	// Network is the network of RUN steps without --network (Skaffold's
	// docker.network): "" or "default" (a namespace of their own with
	// outbound traffic through slirp4netns), "none", or "host" (needs
	// Allow.NetworkHost).
	Network string

	// Jobs bounds how many stages build at once (0: the CPU count; 1: one
	// after another, in Dockerfile order). Independent stages build
	// concurrently; the image is the same either way.
	Jobs int

	// Events receives progress; nil discards it. It is called from the
	// build's goroutines, one event at a time.
	Events func(Event)
}

// EventKind says what an Event reports.
type EventKind int

const (
	// StepStarted: a step is about to run (its cache lookup missed).
	StepStarted EventKind = iota
	// StepCached: the step's result came from the cache.
	StepCached
	// StepDone: the step ran.
	StepDone
	// StepOutput: a line of a RUN step's output.
	StepOutput
	// Warning: something the user should know that did not stop the build.
	Warning
	// IsolationSelected: the build's isolation mode is known (Text holds
	// it, e.g. "rootless"); sent once, before any step.
	IsolationSelected
)

// Event is a progress report.
type Event struct {
	Kind EventKind
	// Stage is the stage's name or index; Step counts from 1 within it.
	Stage       string
	Step, Steps int
	// Line is the instruction's line in the Dockerfile.
	Line int
	// Instruction is the instruction after variable expansion.
	Instruction string
	Duration    time.Duration
	// LayerSize is the compressed size of the step's layer, 0 for none.
	LayerSize int64
	// Text is an output line or a warning.
	Text string
}

// Result is a built image and what building it took.
type Result struct {
	Image v1.Image
	// Steps counts instructions run or taken from the cache; Cached
	// counts those that came from the cache.
	Steps, Cached int
	// Layers are the image's layers that the build produced or took from
	// the cache (not those of the base image).
	Layers []v1.Layer
}

// StepError is a failed instruction.
type StepError struct {
	File        string
	Line        int
	Instruction string
	Err         error
	// Output holds the last lines a failed RUN printed.
	Output []string
}

func (e *StepError) Error() string {
	return fmt.Sprintf("%s:%d: %s: %v", e.File, e.Line, e.Instruction, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

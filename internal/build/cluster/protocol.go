package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/skiff-dev/skiff/internal/build/dockerbuild"
	"github.com/skiff-dev/skiff/internal/build/sandbox"
)

// Job is the build the pod runs, sent as the first entry (JobFile) of the
// tar stream on the worker's stdin; the Dockerfile and the context follow.
type Job struct {
	// Ref is the repo:tag to build and push.
	Ref string `json:"ref"`
	// Target, BuildArgs (with the references of required artifacts),
	// Network, NoCache, CacheRepo, CacheFrom and Labels are the artifact's
	// (build.DockerSpec).
	Target    string            `json:"target,omitempty"`
	BuildArgs map[string]string `json:"buildArgs,omitempty"`
	Network   string            `json:"network,omitempty"`
	NoCache   bool              `json:"noCache,omitempty"`
	CacheRepo string            `json:"cacheRepo,omitempty"`
	CacheFrom []string          `json:"cacheFrom,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	// Push, Cache (the layer cache), Reproducible, Epoch (Unix seconds)
	// and Compression are the build's options.
	Push         bool   `json:"push"`
	Cache        bool   `json:"cache"`
	Reproducible bool   `json:"reproducible,omitempty"`
	Epoch        *int64 `json:"epoch,omitempty"`
	Compression  string `json:"compression,omitempty"`
	// Insecure lists registries reached over plain HTTP.
	Insecure []string `json:"insecure,omitempty"`
	// Aliases maps a registry host:port in image names to the address the
	// pod dials for it (a registry the cluster reaches under another
	// address, such as a loopback one).
	Aliases map[string]string `json:"aliases,omitempty"`
}

// Names of the entries of the stream the worker reads.
const (
	JobFile        = "job.json"
	DockerfileName = "Dockerfile"
	// IgnoreFile is the Dockerfile's own ignore file
	// (<Dockerfile>.dockerignore), when it has one.
	IgnoreFile = "Dockerfile.dockerignore"
	// ContextDir prefixes the build context's entries.
	ContextDir = "context"
)

// message is one JSON line of the worker's stdout.
type message struct {
	Step    *dockerbuild.Event `json:"step,omitempty"`
	Warning string             `json:"warning,omitempty"`
	Done    *doneMessage       `json:"done,omitempty"`
	Error   *errorMessage      `json:"error,omitempty"`
}

type doneMessage struct {
	Ref    string `json:"ref"`
	Pushed bool   `json:"pushed"`
	Steps  int    `json:"steps"`
	Cached int    `json:"cached"`
}

// errorMessage is a failed build: the message, and for a failed
// instruction its line, text, exit code and last output lines, so that the
// client reports it as a local build does.
type errorMessage struct {
	Message     string   `json:"message"`
	Line        int      `json:"line,omitempty"`
	Instruction string   `json:"instruction,omitempty"`
	Cause       string   `json:"cause,omitempty"`
	ExitCode    *int     `json:"exitCode,omitempty"`
	Output      []string `json:"output,omitempty"`
}

// errorOf turns the worker's error into its message.
func errorOf(err error) *errorMessage {
	m := &errorMessage{Message: err.Error()}
	var se *dockerbuild.StepError
	if errors.As(err, &se) {
		m.Line, m.Instruction, m.Output = se.Line, se.Instruction, se.Output
		m.Cause = se.Err.Error()
		var ee *sandbox.ExitError
		if errors.As(se.Err, &ee) {
			code := ee.Code
			m.ExitCode = &code
		}
	}
	return m
}

// PodError is a build that failed in its pod without a failed
// instruction (see dockerbuild.StepError for those).
type PodError struct {
	Pod     string
	Message string
}

func (e *PodError) Error() string { return fmt.Sprintf("build pod %s: %s", e.Pod, e.Message) }

// err turns the message back into the error a local build returns:
// a *dockerbuild.StepError naming the local Dockerfile for a failed
// instruction (with a *sandbox.ExitError for a failed RUN), else a
// *PodError.
func (m *errorMessage) err(pod, dockerfile string) error {
	if m.Instruction == "" {
		return &PodError{Pod: pod, Message: m.Message}
	}
	var cause error = errors.New(m.Cause)
	if m.ExitCode != nil {
		cause = &sandbox.ExitError{Code: *m.ExitCode}
	}
	return &dockerbuild.StepError{File: dockerfile, Line: m.Line, Instruction: m.Instruction, Err: cause, Output: m.Output}
}

// writer writes messages, one JSON line each.
type writer struct{ enc *json.Encoder }

func newWriter(w io.Writer) *writer { return &writer{enc: json.NewEncoder(w)} }

func (w *writer) send(m message) error { return w.enc.Encode(m) }

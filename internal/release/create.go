package release

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/gitinfo"
)

// StepError says which step of Create failed.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return e.Step + ": " + e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

// ErrNoEnvironments is returned when a project has no long-lived
// environment to release.
var ErrNoEnvironments = errors.New("no long-lived environment to release")

// RenderedEnvironment is one environment's hydrated manifests.
type RenderedEnvironment struct {
	Name, Namespace string
	Manifests       []byte
}

// CreateRequest is one release to create.
type CreateRequest struct {
	App, Tag string
	// Repository is where the release goes (see Repository).
	Repository string
	// Builds are the release's images (the artifacts file); may be nil.
	Builds *artifact.File
	// Environments are the long-lived environments to render, in order.
	Environments []string
	// Render renders one environment with its profiles into its namespace.
	Render func(ctx context.Context, environment string) (RenderedEnvironment, error)
	// Git is the repository the changelog comes from; nil gives a
	// changelog with the title only (the caller says why). Commit is the commit CI names; empty
	// means the tag's (or HEAD's).
	Git    *gitinfo.Repo
	Commit string
	// Now is the release's creation time.
	Now time.Time
}

// CreateResult says what Create did.
type CreateResult struct {
	// Ref is the pushed release, pinned by digest.
	Ref     name.Digest
	Package *Package
	// Warnings are for the caller to print (no changelog, for example).
	Warnings []string
}

// Create makes a release, step by step: changelog (from git), one render
// per long-lived environment, push. Staging and production later deploy
// exactly these bytes (env deploy --release).
func Create(ctx context.Context, store *Store, req CreateRequest) (*CreateResult, error) {
	if req.Now.IsZero() {
		req.Now = time.Now()
	}
	if len(req.Environments) == 0 {
		return nil, ErrNoEnvironments
	}
	res := &CreateResult{}
	pkg := &Package{
		Metadata:  Metadata{App: req.App, Tag: req.Tag, Commit: req.Commit, Created: req.Now.UTC().Truncate(time.Second)},
		Manifests: map[string][]byte{},
		Artifacts: req.Builds,
		Changelog: fmt.Sprintf("## %s\n", req.Tag),
	}
	res.Package = pkg
	// The changelog is optional: a release outside a repository has none.
	if req.Git != nil {
		if gi, err := req.Git.ReleaseOf(req.Tag); err != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("no changelog: %v", err))
		} else {
			if pkg.Metadata.Commit == "" {
				pkg.Metadata.Commit = gi.Commit
			}
			pkg.Changelog = gi.Changelog(req.Tag)
		}
	}
	for _, e := range req.Environments {
		r, err := req.Render(ctx, e)
		if err != nil {
			return res, &StepError{Step: "environment " + e, Err: err}
		}
		pkg.Manifests[e] = r.Manifests
		pkg.Metadata.Environments = append(pkg.Metadata.Environments, EnvironmentInfo{Name: e, Namespace: r.Namespace})
	}
	ref, err := store.Push(ctx, req.Repository, pkg)
	if err != nil {
		return res, &StepError{Step: "push", Err: err}
	}
	res.Ref = ref
	return res, nil
}

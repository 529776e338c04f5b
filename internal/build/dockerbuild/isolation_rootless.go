package dockerbuild

import (
	"context"

	"github.com/skiff-dev/skiff/internal/build/sandbox"
	"github.com/skiff-dev/skiff/internal/build/snapshot"
)

// rootlessIsolation is rootless mode; it is not implemented yet.
type rootlessIsolation struct{}

func (rootlessIsolation) mode() Isolation { return IsolationRootless }
func (rootlessIsolation) check() error    { return errNotYet }
func (rootlessIsolation) newSnapshotter(*snapshot.Store, snapshot.Kind, snapshot.Options) (snapshot.Snapshotter, error) {
	return nil, errNotYet
}
func (rootlessIsolation) run(context.Context, sandbox.Spec) error { return errNotYet }

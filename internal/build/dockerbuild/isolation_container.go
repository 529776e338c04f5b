package dockerbuild

import (
	"context"
	"errors"

	"github.com/skiff-dev/skiff/internal/build/sandbox"
	"github.com/skiff-dev/skiff/internal/build/snapshot"
)

// errNotYet is the reason of a mode this build of skiff does not have yet.
var errNotYet = errors.New("not available yet in this version of skiff")

// containerIsolation is container mode (Kaniko's model: RUN executes in
// the root filesystem of the container skiff runs in, stages unpacked into
// / one after another, layers found by a metadata walk). It is not
// implemented yet: this file is where it plugs into the isolator seam.
type containerIsolation struct{}

func (containerIsolation) mode() Isolation { return IsolationContainer }
func (containerIsolation) check() error    { return errNotYet }
func (containerIsolation) newSnapshotter(*snapshot.Store, snapshot.Kind, snapshot.Options) (snapshot.Snapshotter, error) {
	return nil, errNotYet
}
func (containerIsolation) run(context.Context, sandbox.Spec) error { return errNotYet }

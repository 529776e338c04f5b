package dockerbuild

import (
	"context"
	"errors"

	"github.com/skiff-dev/skiff/internal/build/sandbox"
	"github.com/skiff-dev/skiff/internal/build/snapshot"
)

// rootlessIsolation is rootless mode: the whole program runs as root of a
// user namespace of its own (the invoking user mapped to 0, its
// /etc/subuid range to 1..n), entered by sandbox.EnterRootless before the
// build starts; there the builder mounts overlayfs (with userxattr) in the
// namespace's own mount namespace and starts each RUN in further mount, PID,
// UTS, IPC and network namespaces, exactly as root mode does on the host.
// Files owned by the mapped root are uid 0 in the layers.
type rootlessIsolation struct{}

// errNotEntered is the reason a process outside skiff's user namespace
// cannot build in rootless mode itself.
var errNotEntered = errors.New("this process is not in skiff's user namespace (enter it with sandbox.EnterRootless before building, as skiff's commands do)")

func (rootlessIsolation) mode() Isolation { return IsolationRootless }

// check reports whether rootless mode can run: in skiff's user namespace it
// can; outside it, when a user namespace can be created (the caller then
// enters one, see EntersUserNamespace).
func (rootlessIsolation) check() error {
	if sandbox.Rootless() {
		return nil
	}
	return sandbox.ProbeUserNamespace()
}

func (rootlessIsolation) relocate(context.Context, Options) (*Result, bool, error) {
	if sandbox.Rootless() {
		return nil, false, nil
	}
	return nil, true, errNotEntered
}

func (rootlessIsolation) newSnapshotter(store *snapshot.Store, kind snapshot.Kind, opts snapshot.Options) (snapshot.Snapshotter, error) {
	return store.New(kind, opts)
}

func (rootlessIsolation) run(ctx context.Context, spec sandbox.Spec) error {
	return sandbox.Run(ctx, spec)
}

// EntersUserNamespace reports whether a build with this isolation runs in
// rootless mode from a process that is not yet in skiff's user namespace:
// the program must then re-execute itself there (sandbox.EnterRootless)
// and build in the new process. A mode that cannot run returns its
// *NoIsolationError.
func EntersUserNamespace(iso Isolation) (bool, error) {
	m, err := SelectIsolation(Options{Isolation: iso})
	if err != nil {
		return false, err
	}
	return m == IsolationRootless && !sandbox.Rootless(), nil
}

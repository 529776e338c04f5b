package dockerbuild

import (
	"context"
	"errors"
	"os"

	"github.com/skiff-dev/skiff/internal/build/sandbox"
	"github.com/skiff-dev/skiff/internal/build/snapshot"
)

// geteuid is os.Geteuid; tests replace it.
var geteuid = os.Geteuid

// rootIsolation is root mode: the builder runs as real root, mounts
// overlayfs in the host's mount namespace (in the layer store, which only
// root can enter) and starts each RUN in new namespaces.
type rootIsolation struct {
	allow Entitlements
}

func (rootIsolation) mode() Isolation { return IsolationRoot }

func (rootIsolation) check() error {
	if sandbox.InUserNamespace() {
		return errors.New("runs only as real root, and this process runs in a user namespace (use --isolation=rootless)")
	}
	return sandbox.ProbeNamespaces()
}

func (rootIsolation) newSnapshotter(store *snapshot.Store, kind snapshot.Kind, opts snapshot.Options) (snapshot.Snapshotter, error) {
	return store.New(kind, opts)
}

func (rootIsolation) run(ctx context.Context, spec sandbox.Spec) error {
	return sandbox.Run(ctx, spec)
}

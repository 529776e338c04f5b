package dockerbuild

import (
	"context"
	"crypto/x509"
	"sort"

	"github.com/skiff-dev/skiff/internal/build/inplace"
	"github.com/skiff-dev/skiff/internal/build/sandbox"
	"github.com/skiff-dev/skiff/internal/build/snapshot"
	"github.com/skiff-dev/skiff/internal/oci"
)

// containerIsolation is container mode, Kaniko's model: RUN executes in
// the root filesystem of the container skiff runs in, each stage's files
// unpacked into / in turn (one snapshot.Tree for the build), under the
// container's own network, seccomp profile and capabilities. It runs only
// inside a container, as root there.
type containerIsolation struct {
	opts Options
	tree *snapshot.Tree
}

// ContainerNote is what a build in container mode tells the user.
const ContainerNote = "container isolation: RUN runs in this container's own root filesystem, network, seccomp profile and capabilities; " +
	"its files are replaced by each stage's, so run skiff in a container made for the build"

func (*containerIsolation) mode() Isolation { return IsolationContainer }

func (*containerIsolation) check() error {
	if err := inplace.Detect(); err != nil {
		return err
	}
	return inplace.CheckRoot()
}

func (*containerIsolation) note() string { return ContainerNote }

func (c *containerIsolation) newSnapshotter(store *snapshot.Store, _ snapshot.Kind, opts snapshot.Options) (snapshot.Snapshotter, error) {
	if c.tree == nil {
		// / is about to hold the image's files: load the CA certificates
		// skiff pushes with while they are still this container's.
		_, _ = x509.SystemCertPool()
		prot, err := inplace.Protect(c.inputs(store)...)
		if err != nil {
			return nil, err
		}
		c.tree = store.NewTree("/", prot)
	}
	return c.tree.New(opts), nil
}

// inputs are the build's own files, which stay where they are while /
// changes: context, Dockerfile, secrets and skiff's stores.
func (c *containerIsolation) inputs(store *snapshot.Store) []string {
	o := c.opts
	out := []string{o.ContextDir, o.Dockerfile, o.CacheMountDir, store.Root()}
	if o.Blobs != nil {
		out = append(out, o.Blobs.Dir())
	}
	if o.Store != nil {
		out = append(out, o.Store.Root())
	}
	ids := make([]string, 0, len(o.Secrets))
	for id := range o.Secrets {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		out = append(out, o.Secrets[id])
	}
	return out
}

// protection is how COPY treats paths of the build's tree: the
// container's own files are left alone (see copier.protect).
func (c *containerIsolation) protection() func(string) oci.Protection {
	if c.tree == nil {
		return nil
	}
	return c.tree.Protection()
}

func (*containerIsolation) run(ctx context.Context, spec sandbox.Spec) error {
	return inplace.Run(ctx, spec)
}

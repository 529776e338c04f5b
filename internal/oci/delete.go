package oci

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Delete deletes the manifest ref names, and with it every tag pointing at
// it (registries delete manifests, not single tags). The blobs it used stay
// until the registry's own garbage collection frees those no manifest
// refers to.
func (c *Client) Delete(ctx context.Context, ref name.Digest) error {
	reg := ref.Context().RegistryStr()
	if err := remote.Delete(ref, c.remoteOptions(ctx, reg)...); err != nil {
		return fmt.Errorf("deleting %s: %w", ref, c.classify(err, reg))
	}
	return nil
}

package render

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// RegistryResolver resolves tags to digests with a HEAD request to the
// registry, using the Docker credential helpers and config for auth.
type RegistryResolver struct {
	// Insecure are registries reached over plain HTTP; loopback ones always are.
	Insecure []string
}

// Digest implements DigestResolver.
func (r RegistryResolver) Digest(ctx context.Context, ref string) (string, error) {
	var opts []name.Option
	if tag, err := name.ParseReference(ref); err == nil && isInsecureHost(tag.Context().RegistryStr(), r.Insecure) {
		opts = append(opts, name.Insecure)
	}
	parsed, err := name.ParseReference(ref, opts...)
	if err != nil {
		return "", fmt.Errorf("%q is not an image reference: %v", ref, err)
	}
	desc, err := remote.Head(parsed, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		return "", fmt.Errorf("%s", oneLine(err.Error()))
	}
	return desc.Digest.String(), nil
}

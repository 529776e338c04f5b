package oci

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Image fetches the image at ref, resolving an index to its linux/amd64
// entry. Layers are fetched lazily when read.
func (c *Client) Image(ctx context.Context, ref name.Reference) (v1.Image, error) {
	reg := ref.Context().RegistryStr()
	img, err := remote.Image(ref, c.remoteOptions(ctx, reg)...)
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", ref, c.classify(err, reg))
	}
	return img, nil
}

// Head returns the descriptor of the manifest at ref; the error wraps
// ErrNotFound when it does not exist.
func (c *Client) Head(ctx context.Context, ref name.Reference) (*v1.Descriptor, error) {
	reg := ref.Context().RegistryStr()
	desc, err := remote.Head(ref, c.remoteOptions(ctx, reg)...)
	if err != nil {
		return nil, fmt.Errorf("looking up %s: %w", ref, c.classify(err, reg))
	}
	return desc, nil
}

// Digest returns the digest the manifest at ref (a tag or digest
// reference, as a string) has in its registry now.
func (c *Client) Digest(ctx context.Context, ref string) (string, error) {
	r, err := c.ParseReference(ref)
	if err != nil {
		return "", err
	}
	desc, err := c.Head(ctx, r)
	if err != nil {
		return "", err
	}
	return desc.Digest.String(), nil
}

// Exists reports whether a manifest exists at ref.
func (c *Client) Exists(ctx context.Context, ref name.Reference) (bool, error) {
	_, err := c.Head(ctx, ref)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// PushResult says what Push did.
type PushResult struct {
	Digest v1.Hash
	// Pushed is false when the tag already pointed at the image.
	Pushed bool
}

// Push writes img to tag. If the tag already resolves to the image's digest
// nothing is sent; if only the digest exists the manifest is re-tagged;
// otherwise missing blobs are uploaded (or mounted from other repositories
// of the same registry) before the manifest.
func (c *Client) Push(ctx context.Context, tag name.Reference, img v1.Image) (PushResult, error) {
	dig, err := img.Digest()
	if err != nil {
		return PushResult{}, fmt.Errorf("computing digest for %s: %w", tag, err)
	}
	reg := tag.Context().RegistryStr()
	if desc, err := c.Head(ctx, tag); err == nil && desc.Digest == dig {
		return PushResult{Digest: dig}, nil
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		return PushResult{}, fmt.Errorf("pushing %s: %w", tag, err)
	}
	if ok, err := c.Exists(ctx, tag.Context().Digest(dig.String())); err == nil && ok {
		if t, isTag := tag.(name.Tag); isTag {
			if err := remote.Tag(t, img, c.remoteOptions(ctx, reg)...); err != nil {
				return PushResult{}, fmt.Errorf("tagging %s: %w", tag, c.classify(err, reg))
			}
		}
		return PushResult{Digest: dig, Pushed: true}, nil
	}
	if err := remote.Write(tag, img, c.remoteOptions(ctx, reg)...); err != nil {
		return PushResult{}, fmt.Errorf("pushing %s: %w", tag, c.classify(err, reg))
	}
	return PushResult{Digest: dig, Pushed: true}, nil
}

// WriteLayer uploads one blob to repo unless it is already there.
func (c *Client) WriteLayer(ctx context.Context, repo name.Repository, l v1.Layer) error {
	reg := repo.RegistryStr()
	if err := remote.WriteLayer(repo, l, c.remoteOptions(ctx, reg)...); err != nil {
		return fmt.Errorf("uploading layer to %s: %w", repo, c.classify(err, reg))
	}
	return nil
}

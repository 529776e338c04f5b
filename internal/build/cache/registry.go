package cache

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/skiff-dev/skiff/internal/oci"
)

// Registry is a cache in a repository: each entry is a small image tagged
// with the key, holding the step's layer (or none) and its creation time,
// as Kaniko's cache did. Layers are pulled only when a later step needs
// their files, and are mounted rather than copied when the image is pushed
// to the same registry.
type Registry struct {
	client *oci.Client
	repo   name.Repository
}

// NewRegistry returns a cache in repo.
func NewRegistry(client *oci.Client, repo name.Repository) *Registry {
	return &Registry{client: client, repo: repo}
}

// Repo is the cache repository.
func (r *Registry) Repo() name.Repository { return r.repo }

// Get implements Cache.
func (r *Registry) Get(ctx context.Context, k Key) (Entry, bool, error) {
	ref := r.repo.Tag(k.String())
	img, err := r.client.Image(ctx, ref)
	if errors.Is(err, oci.ErrNotFound) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("cache lookup: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return Entry{}, false, fmt.Errorf("cache lookup %s: %w", ref, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return Entry{}, false, fmt.Errorf("cache lookup %s: %w", ref, err)
	}
	e := Entry{Created: cf.Created.Time, Source: r.repo.Name()}
	switch len(layers) {
	case 0:
	case 1:
		e.Layer = layers[0]
	default:
		return Entry{}, false, nil // not one of ours
	}
	return e, true, nil
}

// Put implements Cache.
func (r *Registry) Put(ctx context.Context, k Key, e Entry) error {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf := &v1.ConfigFile{Architecture: "amd64", OS: "linux", Created: v1.Time{Time: e.Created.UTC()}, RootFS: v1.RootFS{Type: "layers"}}
	if e.Layer != nil {
		var err error
		if img, err = mutate.Append(img, mutate.Addendum{Layer: e.Layer}); err != nil {
			return err
		}
		d, err := e.Layer.DiffID()
		if err != nil {
			return err
		}
		cf.RootFS.DiffIDs = []v1.Hash{d}
		cf.History = []v1.History{{Created: cf.Created, CreatedBy: "skiff build cache " + k.String()}}
	}
	img, err := mutate.ConfigFile(img, cf)
	if err != nil {
		return err
	}
	if _, err := r.client.Push(ctx, r.repo.Tag(k.String()), img); err != nil {
		return fmt.Errorf("storing cache entry: %w", err)
	}
	return nil
}

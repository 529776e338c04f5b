package build

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/skiff-dev/skiff/internal/build/cache"
)

// registryCache marks the registry tier of a build's cache, the one its
// index is stored next to.
type registryCache struct{ *cache.Registry }

// putCacheIndex stores, next to the registry cache's entries, the keys the
// build of image used, so that `skiff cleanup --registry` keeps them while
// the image is wanted. Without an index cleanup keeps every entry of that
// cache, so a failure is a warning, not a failed build.
func (d *dockerfileBuilder) putCacheIndex(ctx context.Context, used *cache.Recorder, image v1.Hash, emit func(Event), artifact string) {
	if used == nil {
		return
	}
	tiers, _ := used.Cache.(cache.Tiered)
	for _, t := range tiers {
		if r, ok := t.(registryCache); ok {
			if err := r.PutIndex(ctx, image, used.Keys()); err != nil {
				emit(Event{Kind: ArtifactWarning, Artifact: artifact, Text: fmt.Sprintf("%v; skiff cleanup keeps every entry of %s", err, r.Repo())})
			}
		}
	}
}

package cache

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/skiff-dev/skiff/internal/oci"
)

// IndexLabel is the config label of a cache index that lists its keys.
const IndexLabel = "dev.skiff.cache.keys"

// indexSuffix ends the tag of a cache index: sha256-<image hex>.cache, in
// the manner of cosign's sha256-<hex>.sig tags.
const indexSuffix = ".cache"

// IndexTag is the tag, in a cache repository, of the index listing the
// entries the build of image used.
func IndexTag(image v1.Hash) string { return image.Algorithm + "-" + image.Hex + indexSuffix }

// ParseIndexTag returns the image digest an index tag names.
func ParseIndexTag(tag string) (v1.Hash, bool) {
	alg, rest, ok := strings.Cut(strings.TrimSuffix(tag, indexSuffix), "-")
	if !ok || !strings.HasSuffix(tag, indexSuffix) {
		return v1.Hash{}, false
	}
	h, err := v1.NewHash(alg + ":" + rest)
	return h, err == nil
}

// IsEntryTag reports whether tag names a cache entry (a key in hex).
func IsEntryTag(tag string) bool {
	if len(tag) != 2*len(Key{}) {
		return false
	}
	for _, c := range tag {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// PutIndex stores, next to the entries, which keys the build of image
// used: what keeps those entries from `skiff cleanup --registry` while the
// image is wanted. It is a small image without layers whose config lists
// the keys.
func (r *Registry) PutIndex(ctx context.Context, image v1.Hash, keys []Key) error {
	hex := make([]string, len(keys))
	for i, k := range keys {
		hex[i] = k.String()
	}
	sort.Strings(hex)
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf := &v1.ConfigFile{
		Architecture: "amd64", OS: "linux", RootFS: v1.RootFS{Type: "layers"},
		Config: v1.Config{Labels: map[string]string{IndexLabel: strings.Join(hex, ",")}},
	}
	img, err := mutate.ConfigFile(img, cf)
	if err != nil {
		return err
	}
	if _, err := r.client.Push(ctx, r.repo.Tag(IndexTag(image)), img); err != nil {
		return fmt.Errorf("storing the cache index of %s: %w", image, err)
	}
	return nil
}

// Index returns the keys the build of image used; ok is false when no
// index was stored for it.
func (r *Registry) Index(ctx context.Context, image v1.Hash) (keys []string, ok bool, err error) {
	img, err := r.client.Image(ctx, r.repo.Tag(IndexTag(image)))
	if errors.Is(err, oci.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading the cache index of %s: %w", image, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, false, fmt.Errorf("reading the cache index of %s: %w", image, err)
	}
	v, ok := cf.Config.Labels[IndexLabel]
	if !ok {
		return nil, false, nil
	}
	if v == "" {
		return []string{}, true, nil
	}
	return strings.Split(v, ","), true, nil
}

// Recorder is a cache that notes every key it hits or stores: the entries
// a build used, for its index.
type Recorder struct {
	Cache
	mu   sync.Mutex
	keys map[Key]bool
}

// NewRecorder records the keys c serves and stores.
func NewRecorder(c Cache) *Recorder { return &Recorder{Cache: c, keys: map[Key]bool{}} }

// Get implements Cache.
func (r *Recorder) Get(ctx context.Context, k Key) (Entry, bool, error) {
	e, ok, err := r.Cache.Get(ctx, k)
	if ok {
		r.note(k)
	}
	return e, ok, err
}

// Put implements Cache.
func (r *Recorder) Put(ctx context.Context, k Key, e Entry) error {
	r.note(k)
	return r.Cache.Put(ctx, k, e)
}

func (r *Recorder) note(k Key) {
	r.mu.Lock()
	r.keys[k] = true
	r.mu.Unlock()
}

// Keys are the keys hit or stored so far.
func (r *Recorder) Keys() []Key {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Key, 0, len(r.keys))
	for k := range r.keys {
		out = append(out, k)
	}
	return out
}

package cleanup_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/skiff-dev/skiff/internal/build/cache"
	"github.com/skiff-dev/skiff/internal/build/snapshot"
	"github.com/skiff-dev/skiff/internal/cleanup"
	"github.com/skiff-dev/skiff/internal/oci"
)

// localCache is a cache directory filled the way builds fill it: layer
// blobs, step keys and extracted layers, through the builder's own types.
type localCache struct {
	t     *testing.T
	dir   string
	store *snapshot.Store
	blobs *oci.Blobs
	local *cache.Local
}

func newLocalCache(t *testing.T) *localCache {
	t.Helper()
	dir := t.TempDir()
	store, err := snapshot.OpenStore(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := oci.OpenBlobs(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	local, err := cache.NewLocal(dir, blobs)
	if err != nil {
		t.Fatal(err)
	}
	// Builds create the lock file; take it once as a build does.
	unlock, err := cache.Lock(t.Context(), dir, false)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	return &localCache{t: t, dir: dir, store: store, blobs: blobs, local: local}
}

// entry is one cached step: its key, its layer and the layer's diff ID.
type entry struct {
	key    cache.Key
	layer  v1.Layer
	diffID v1.Hash
}

// add caches a step whose layer holds one file of size random bytes,
// extracts the layer into the store, and dates all of it age ago.
func (c *localCache) add(name string, size int, age time.Duration) entry {
	c.t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(size), Typeflag: tar.TypeReg})
	tw.Write(data)
	tw.Close()
	bw, err := c.blobs.Create(oci.Gzip)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := bw.Write(tb.Bytes()); err != nil {
		c.t.Fatal(err)
	}
	layer, err := bw.Commit()
	if err != nil {
		c.t.Fatal(err)
	}
	key := cache.NewKey("RUN").String("name", name).Sum()
	if err := c.local.Put(context.Background(), key, cache.Entry{Layer: layer, Created: time.Now()}); err != nil {
		c.t.Fatal(err)
	}
	dir, err := c.store.Dir(context.Background(), layer)
	if err != nil {
		c.t.Fatal(err)
	}
	diffID, _ := layer.DiffID()
	digest, _ := layer.Digest()
	when := time.Now().Add(-age)
	for _, p := range []string{dir + snapshot.UsedSuffix, c.blobs.Path(digest), filepath.Join(cache.KeysDir(c.dir), key.String()+".json")} {
		if err := os.Chtimes(p, when, when); err != nil {
			c.t.Fatal(err)
		}
	}
	return entry{key: key, layer: layer, diffID: diffID}
}

// cached reports whether e is still a cache hit with its layer extracted.
func (c *localCache) cached(e entry) bool {
	_, hit, err := c.local.Get(context.Background(), e.key)
	if err != nil {
		c.t.Fatal(err)
	}
	return hit && c.store.Has(e.diffID)
}

// listing is every path under the cache with its size and time.
func (c *localCache) listing() []string {
	var out []string
	filepath.WalkDir(c.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		fi, _ := d.Info()
		out = append(out, p+" "+fi.ModTime().String()+" "+fi.Mode().String())
		return nil
	})
	sort.Strings(out)
	return out
}

func kinds(items []cleanup.LocalItem) map[string]int {
	out := map[string]int{}
	for _, it := range items {
		out[it.Kind]++
	}
	return out
}

func TestLocalRemovesWhatWasUnusedLongerThanOlderThan(t *testing.T) {
	c := newLocalCache(t)
	old := c.add("old", 4096, 10*24*time.Hour)
	fresh := c.add("fresh", 4096, time.Hour)
	rep, err := cleanup.Local(t.Context(), cleanup.LocalOptions{Dir: c.dir, OlderThan: 168 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]int{cleanup.KindKey: 1, cleanup.KindBlob: 1, cleanup.KindLayer: 1}, kinds(rep.Removed)); d != "" {
		t.Errorf("removed (-want +got):\n%s\n%+v", d, rep.Removed)
	}
	if c.cached(old) {
		t.Error("the entry unused for 10 days survived --older-than 168h")
	}
	if !c.cached(fresh) {
		t.Error("the entry used an hour ago was removed")
	}
	if rep.After >= rep.Before || rep.Kept != 3 {
		t.Errorf("before %d, after %d, kept %d", rep.Before, rep.After, rep.Kept)
	}
}

func TestLocalKeepStorageRemovesLeastRecentlyUsedFirst(t *testing.T) {
	c := newLocalCache(t)
	e3 := c.add("three-days", 1<<20, 72*time.Hour)
	e2 := c.add("two-days", 1<<20, 48*time.Hour)
	e1 := c.add("one-day", 1<<20, 24*time.Hour)
	// A hit counts as a use: the oldest entry becomes the newest.
	if _, hit, _ := c.local.Get(t.Context(), e3.key); !hit {
		t.Fatal("no hit")
	}
	if _, err := c.store.Dir(t.Context(), e3.layer); err != nil {
		t.Fatal(err)
	}
	// Each entry is about 2 MiB on disk (blob + extracted file): room for two.
	limit := int64(5 << 20)
	rep, err := cleanup.Local(t.Context(), cleanup.LocalOptions{Dir: c.dir, KeepStorage: limit})
	if err != nil {
		t.Fatal(err)
	}
	if rep.After > limit {
		t.Errorf("%d bytes left, more than --keep-storage %d", rep.After, limit)
	}
	if c.cached(e2) || !c.cached(e1) || !c.cached(e3) {
		t.Errorf("cached after the size limit: used 2 days ago %v, 1 day ago %v, just now %v; want false true true\n%+v", c.cached(e2), c.cached(e1), c.cached(e3), rep.Removed)
	}
}

func TestLocalDryRunChangesNothing(t *testing.T) {
	c := newLocalCache(t)
	c.add("old", 4096, 30*24*time.Hour)
	c.add("other", 4096, 30*24*time.Hour)
	before := c.listing()
	rep, err := cleanup.Local(t.Context(), cleanup.LocalOptions{Dir: c.dir, OlderThan: time.Hour, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Removed) != 6 || !rep.DryRun {
		t.Errorf("dry run reports %d items to remove, want 6: %+v", len(rep.Removed), rep.Removed)
	}
	if d := cmp.Diff(before, c.listing()); d != "" {
		t.Errorf("--dry-run changed the cache (-before +after):\n%s", d)
	}
}

func TestLocalRemovesBlobsNoEntryNeedsAndEntriesWithoutBlobs(t *testing.T) {
	c := newLocalCache(t)
	orphan := c.add("orphan", 4096, time.Minute)
	broken := c.add("broken", 4096, time.Minute)
	kept := c.add("kept", 4096, time.Minute)
	os.Remove(filepath.Join(cache.KeysDir(c.dir), orphan.key.String()+".json"))
	d, _ := broken.layer.Digest()
	os.Remove(c.blobs.Path(d))
	rep, err := cleanup.Local(t.Context(), cleanup.LocalOptions{Dir: c.dir})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]int{cleanup.KindKey: 1, cleanup.KindBlob: 1}, kinds(rep.Removed)); d != "" {
		t.Errorf("removed (-want +got):\n%s\n%+v", d, rep.Removed)
	}
	od, _ := orphan.layer.Digest()
	if _, err := os.Stat(c.blobs.Path(od)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the blob no entry refers to is still there: %v", err)
	}
	if !c.cached(kept) {
		t.Error("a complete entry was removed")
	}
}

// TestLocalWaitsForRunningBuilds holds the lock a build holds: cleanup
// must not remove anything until it is released.
func TestLocalWaitsForRunningBuilds(t *testing.T) {
	c := newLocalCache(t)
	old := c.add("old", 4096, 30*24*time.Hour)
	unlock, err := cache.Lock(t.Context(), c.dir, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err = cleanup.Local(ctx, cleanup.LocalOptions{Dir: c.dir, OlderThan: time.Hour})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cleanup while a build holds the cache: %v, want it to wait until the deadline", err)
	}
	if !c.cached(old) {
		t.Fatal("cleanup removed an entry while a build held the cache")
	}
	unlock()
	if _, err := cleanup.Local(t.Context(), cleanup.LocalOptions{Dir: c.dir, OlderThan: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if c.cached(old) {
		t.Error("the old entry survived once the build was done")
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"10GB": 10 << 30, "512MB": 512 << 20, "1024": 1024, "1.5KiB": 1536} {
		got, err := cleanup.ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "ten", "-1GB"} {
		if _, err := cleanup.ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}

package dockerbuild

import (
	"context"
	"io/fs"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/skiff-dev/skiff/internal/build/cache"
	"github.com/skiff-dev/skiff/internal/build/snapshot"
	"github.com/skiff-dev/skiff/internal/oci"
)

// countingCache counts the lookups that reach a real cache.
type countingCache struct {
	cache.Cache
	gets atomic.Int32
}

func (c *countingCache) Get(ctx context.Context, k cache.Key) (cache.Entry, bool, error) {
	c.gets.Add(1)
	return c.Cache.Get(ctx, k)
}

// files counts the regular files under dir.
func files(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRegistryCacheHitsFillLocalCache: after a CI job warmed the registry
// cache, a first build on a fresh machine takes every step from it and
// keeps the hits locally; the second build then asks the registry nothing
// and downloads or extracts nothing, and its image (layers still in the
// registry) pushes and reads back whole.
func TestRegistryCacheHitsFillLocalCache(t *testing.T) {
	ci := newHarness(t, snapshot.Auto)
	dir := writeContext(t, map[string]string{
		"Dockerfile": "ARG BASE\nFROM $BASE\nCOPY f /f\nRUN echo x > /x\nRUN true\nRUN cat /f /x > /y\n",
		"f":          "f\n",
	})
	repo, err := name.NewRepository(ci.env.Repo(t, "fill") + "/cache")
	if err != nil {
		t.Fatal(err)
	}
	args := map[string]string{"BASE": ci.env.BaseImage()}
	opts := ci.options(dir, args)
	opts.Cache = cache.Tiered{ci.local, cache.NewRegistry(ci.client, repo)}
	warm, _ := ci.build(t, opts)

	dev := newHarness(t, snapshot.Auto)
	dev.local.Remote = func(ctx context.Context, r string, d oci.Desc) (v1.Layer, error) {
		rr, err := name.NewRepository(r)
		if err != nil {
			return nil, err
		}
		return dev.client.RemoteLayer(ctx, rr, d), nil
	}
	reg := &countingCache{Cache: cache.NewRegistry(dev.client, repo)}
	build := func() *Result {
		opts := dev.options(dir, args)
		opts.Cache = cache.Tiered{dev.local, reg}
		res, events := dev.build(t, opts)
		for _, e := range events {
			if e.Kind == StepStarted {
				t.Errorf("step ran: %s", e.Instruction)
			}
		}
		if res.Cached != 4 || res.Steps != 4 {
			t.Errorf("%d of %d steps cached, want 4 of 4", res.Cached, res.Steps)
		}
		return res
	}
	first := build()
	if got := reg.gets.Load(); got != 4 {
		t.Errorf("first build on the fresh machine: %d registry cache lookups, want 4", got)
	}
	blobs, store := files(t, dev.blobs.Dir()), files(t, dev.store.Root())
	second := build()
	if got := reg.gets.Load(); got != 4 {
		t.Errorf("second build: %d registry cache lookups in all, want the first build's 4 only", got)
	}
	if b, s := files(t, dev.blobs.Dir()), files(t, dev.store.Root()); b != blobs || s != store {
		t.Errorf("second build wrote files: blobs %d -> %d, layer store %d -> %d", blobs, b, store, s)
	}
	dw, _ := warm.Image.Digest()
	d1, _ := first.Image.Digest()
	d2, _ := second.Image.Digest()
	if dw != d1 || d1 != d2 {
		t.Errorf("digests: warm-up %s, fresh %s, second %s", dw, d1, d2)
	}
	pulled, _ := dev.push(t, second.Image, "filled")
	fs := flatten(t, pulled)
	if fs["/y"].Content != "f\nx\n" || fs["/f"].Content != "f\n" {
		t.Errorf("/y = %q, /f = %q", fs["/y"].Content, fs["/f"].Content)
	}
}

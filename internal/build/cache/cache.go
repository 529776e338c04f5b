package cache

import (
	"context"
	"errors"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Entry is the cached result of a step.
type Entry struct {
	// Layer is the step's layer; nil when the step changed no file.
	Layer v1.Layer
	// Created is when the step first ran; images reuse it so that a
	// rebuild with nothing changed has the same digest.
	Created time.Time
	// Source is the repository Layer's blob is in when it came from a
	// registry cache; empty for a local blob.
	Source string
}

// Filler is a cache that can keep what a later tier of a Tiered cache
// found, so the next lookup stops at it.
type Filler interface {
	Fill(ctx context.Context, k Key, e Entry) error
}

// Cache stores step results by key.
type Cache interface {
	// Get returns the entry for k; ok is false on a miss.
	Get(ctx context.Context, k Key) (e Entry, ok bool, err error)
	// Put stores the entry for k.
	Put(ctx context.Context, k Key, e Entry) error
}

// Tiered looks keys up in each cache in order and stores in all of them.
type Tiered []Cache

// Get returns the first hit, and fills the tiers before it that are
// Fillers (the local cache, with a registry cache's hit): a failure to fill
// only costs the next build a lookup.
func (t Tiered) Get(ctx context.Context, k Key) (Entry, bool, error) {
	var errs []error
	for i, c := range t {
		e, ok, err := c.Get(ctx, k)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			for _, before := range t[:i] {
				if f, ok := before.(Filler); ok {
					_ = f.Fill(ctx, k, e)
				}
			}
			return e, true, nil
		}
	}
	return Entry{}, false, errors.Join(errs...)
}

// Put stores in every cache, reporting all failures.
func (t Tiered) Put(ctx context.Context, k Key, e Entry) error {
	var errs []error
	for _, c := range t {
		if err := c.Put(ctx, k, e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/skiff-dev/skiff/internal/oci"
)

// Local is a cache in a directory: one small JSON file per key, with the
// layer blobs in an oci.Blobs directory.
type Local struct {
	dir   string
	blobs *oci.Blobs
	// Remote, when set, gives the layer of an entry filled from a registry
	// cache (Fill) whose blob is not in blobs: d in repository repo.
	Remote func(ctx context.Context, repo string, d oci.Desc) (v1.Layer, error)
}

type localEntry struct {
	Layer   *oci.Desc `json:"layer,omitempty"`
	Created time.Time `json:"created"`
	// Source is the repository of a layer that is not in blobs (an entry
	// filled from a registry cache).
	Source string `json:"source,omitempty"`
}

// NewLocal opens a local cache that keeps keys under dir and layers in blobs.
func NewLocal(dir string, blobs *oci.Blobs) (*Local, error) {
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
		return nil, fmt.Errorf("creating cache directory: %w", err)
	}
	return &Local{dir: dir, blobs: blobs}, nil
}

func (l *Local) path(k Key) string { return filepath.Join(KeysDir(l.dir), k.String()+".json") }

// Get implements Cache. An entry whose blob went missing is a miss.
func (l *Local) Get(ctx context.Context, k Key) (Entry, bool, error) {
	b, err := os.ReadFile(l.path(k))
	if errors.Is(err, fs.ErrNotExist) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, err
	}
	var le localEntry
	if err := json.Unmarshal(b, &le); err != nil {
		return Entry{}, false, nil // a torn write; rebuild the step
	}
	e := Entry{Created: le.Created}
	if le.Layer != nil {
		layer, ok := l.blobs.Layer(*le.Layer)
		switch {
		case ok:
			MarkUsed(l.blobs.Path(le.Layer.Digest))
		case le.Source != "" && l.Remote != nil:
			if layer, err = l.Remote(ctx, le.Source, *le.Layer); err != nil {
				return Entry{}, false, nil
			}
			e.Source = le.Source
		default:
			return Entry{}, false, nil
		}
		e.Layer = layer
	}
	MarkUsed(l.path(k))
	return e, true, nil
}

// MarkUsed sets p's modification time to now: what `skiff cleanup --local`
// reads as its last use. Failures only make the entry look older.
func MarkUsed(p string) {
	now := time.Now()
	_ = os.Chtimes(p, now, now)
}

// KeysDir is where a local cache in dir keeps its keys.
func KeysDir(dir string) string { return filepath.Join(dir, "keys") }

// ReadLocalEntry returns the layer digest the key file p records, "" for
// an entry without a layer; ok is false for a file that is not an entry.
func ReadLocalEntry(p string) (layer string, ok bool) {
	b, err := os.ReadFile(p)
	if err != nil {
		return "", false
	}
	var le localEntry
	if json.Unmarshal(b, &le) != nil {
		return "", false
	}
	if le.Layer == nil {
		return "", true
	}
	return le.Layer.Digest.String(), true
}

// Put implements Cache. Layers must already be in the cache's blobs
// directory; others (from a registry) are only recorded remotely.
func (l *Local) Put(_ context.Context, k Key, e Entry) error {
	return l.put(k, e, false)
}

// Fill implements Filler: it keeps a registry cache's hit, recording where
// its layer is when the blob is not here, so that the next build finds the
// key locally and reads the layer only if a step needs its files.
func (l *Local) Fill(_ context.Context, k Key, e Entry) error {
	return l.put(k, e, true)
}

func (l *Local) put(k Key, e Entry, remote bool) error {
	le := localEntry{Created: e.Created.UTC()}
	if e.Layer != nil {
		d, err := oci.DescOf(e.Layer)
		if err != nil {
			return err
		}
		if _, ok := l.blobs.Layer(d); !ok {
			if !remote || e.Source == "" {
				return nil
			}
			le.Source = e.Source
		}
		le.Layer = &d
	}
	b, err := json.Marshal(le)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Join(l.dir, "keys"), "tmp-")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), l.path(k))
}

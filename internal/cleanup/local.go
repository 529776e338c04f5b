package cleanup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/skiff-dev/skiff/internal/build/cache"
	"github.com/skiff-dev/skiff/internal/build/snapshot"
)

// LocalOptions say what `skiff cleanup --local` keeps.
type LocalOptions struct {
	// Dir is the build's cache directory (build.DefaultCacheDir, or
	// --cache-dir).
	Dir string
	// OlderThan removes what was last used longer ago than this (0: no
	// age limit).
	OlderThan time.Duration
	// KeepStorage then removes the least recently used items until at
	// most this many bytes are left (0: no size limit).
	KeepStorage int64
	// DryRun reports what would go and removes nothing.
	DryRun bool
	// Now is the current time (zero: time.Now).
	Now time.Time
}

// Kinds of local items.
const (
	KindLayer = "layer" // an extracted layer in the layer store
	KindBlob  = "blob"  // a compressed layer blob
	KindKey   = "key"   // a cache entry (step key → blob)
	KindMount = "mount" // a RUN --mount=type=cache directory
)

// LocalItem is one thing in the local cache.
type LocalItem struct {
	Kind string
	// Path is relative to the cache directory.
	Path     string
	Size     int64
	LastUsed time.Time
	// Reason says why it is removed.
	Reason string
}

// LocalReport is what a local cleanup found and removed (or, with DryRun,
// would remove).
type LocalReport struct {
	Dir string
	// Before and After are the bytes in use before and after.
	Before, After int64
	Removed       []LocalItem
	// Kept counts the items left.
	Kept   int
	DryRun bool
}

// Local prunes the cache directory: items unused for longer than
// OlderThan, then the least recently used until KeepStorage bytes are left,
// then blobs no cache entry refers to and entries whose blob is gone. It
// holds the cache's exclusive lock, so it waits for running builds (of any
// process) to finish and no build starts while it removes.
func Local(ctx context.Context, opts LocalOptions) (*LocalReport, error) {
	if opts.Dir == "" {
		return nil, errors.New("local cleanup: no cache directory given")
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	if _, err := os.Stat(opts.Dir); errors.Is(err, fs.ErrNotExist) {
		return &LocalReport{Dir: opts.Dir, DryRun: opts.DryRun}, nil
	}
	unlock, err := cache.Lock(ctx, opts.Dir, true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if !opts.DryRun {
		// Opening the store removes the scratch directories of processes
		// that no longer run.
		if _, err := snapshot.OpenStore(filepath.Join(opts.Dir, "store")); err != nil {
			return nil, err
		}
	}
	items, refs, err := scanLocal(opts.Dir)
	if err != nil {
		return nil, err
	}
	rep := &LocalReport{Dir: opts.Dir, DryRun: opts.DryRun}
	for _, it := range items {
		rep.Before += it.Size
	}
	remove := map[int]string{}
	// Oldest first: the order the size limit removes in.
	sort.SliceStable(items, func(i, j int) bool { return items[i].LastUsed.Before(items[j].LastUsed) })
	left := rep.Before
	for i, it := range items {
		if opts.OlderThan > 0 && now.Sub(it.LastUsed) > opts.OlderThan {
			remove[i] = fmt.Sprintf("unused for %s (older than %s)", roundAge(now.Sub(it.LastUsed)), opts.OlderThan)
			left -= it.Size
		}
	}
	for i, it := range items {
		if opts.KeepStorage <= 0 || left <= opts.KeepStorage {
			break
		}
		if _, ok := remove[i]; !ok {
			remove[i] = fmt.Sprintf("least recently used beyond --keep-storage %s", HumanSize(opts.KeepStorage))
			left -= it.Size
		}
	}
	orphans(items, refs, remove)
	for i, it := range items {
		reason, ok := remove[i]
		if !ok {
			rep.Kept++
			rep.After += it.Size
			continue
		}
		it.Reason = reason
		if !opts.DryRun {
			if err := removeItem(filepath.Join(opts.Dir, it.Path)); err != nil {
				return rep, fmt.Errorf("removing %s from the cache: %w", it.Path, err)
			}
		}
		rep.Removed = append(rep.Removed, it)
	}
	return rep, nil
}

// orphans adds to remove the blobs no remaining key refers to and the keys
// whose blob is removed or missing.
func orphans(items []LocalItem, refs map[string]string, remove map[int]string) {
	blobs := map[string]int{}
	for i, it := range items {
		if it.Kind == KindBlob {
			blobs["sha256:"+filepath.Base(it.Path)] = i
		}
	}
	wanted := map[string]bool{}
	for i, it := range items {
		if it.Kind != KindKey {
			continue
		}
		layer := refs[it.Path]
		if layer == "" {
			continue
		}
		b, ok := blobs[layer]
		_, gone := remove[b]
		switch {
		case !ok:
			setOnce(remove, i, "its layer blob is missing")
		case gone:
			setOnce(remove, i, "its layer blob is removed")
		case remove[i] == "":
			wanted[layer] = true
		}
	}
	for layer, i := range blobs {
		if !wanted[layer] {
			setOnce(remove, i, "no cache entry refers to it")
		}
	}
}

func setOnce(m map[int]string, i int, reason string) {
	if _, ok := m[i]; !ok {
		m[i] = reason
	}
}

// scanLocal lists the items of the cache directory dir, and for each key
// the layer blob it refers to.
func scanLocal(dir string) ([]LocalItem, map[string]string, error) {
	var items []LocalItem
	refs := map[string]string{}
	add := func(kind, sub string, each func(name string, e fs.DirEntry) (LocalItem, bool, error)) error {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, e := range ents {
			it, ok, err := each(e.Name(), e)
			if err != nil {
				return err
			}
			if ok {
				it.Kind, it.Path = kind, filepath.Join(sub, e.Name())
				items = append(items, it)
			}
		}
		return nil
	}
	layers, _ := filepath.Rel(dir, snapshot.LayersDir(filepath.Join(dir, "store")))
	err := errors.Join(
		add(KindLayer, layers, func(name string, e fs.DirEntry) (LocalItem, bool, error) {
			if !e.IsDir() {
				return LocalItem{}, false, nil // the .used markers go with their layer
			}
			size, newest, err := treeUsage(filepath.Join(dir, layers, name))
			if fi, serr := os.Stat(filepath.Join(dir, layers, name+snapshot.UsedSuffix)); serr == nil {
				newest = fi.ModTime()
			}
			return LocalItem{Size: size, LastUsed: newest}, true, err
		}),
		add(KindBlob, filepath.Join("blobs", "sha256"), func(_ string, e fs.DirEntry) (LocalItem, bool, error) {
			return fileItem(e)
		}),
		add(KindMount, "mounts", func(name string, e fs.DirEntry) (LocalItem, bool, error) {
			if !e.IsDir() {
				return LocalItem{}, false, nil
			}
			// A cache mount is in use whenever a RUN writes to it.
			size, newest, err := treeUsage(filepath.Join(dir, "mounts", name))
			return LocalItem{Size: size, LastUsed: newest}, true, err
		}),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the cache %s: %w", dir, err)
	}
	keys, _ := filepath.Rel(dir, cache.KeysDir(dir))
	err = add(KindKey, keys, func(name string, e fs.DirEntry) (LocalItem, bool, error) {
		if !strings.HasSuffix(name, ".json") {
			return LocalItem{}, false, nil
		}
		layer, ok := cache.ReadLocalEntry(filepath.Join(dir, keys, name))
		if ok {
			refs[filepath.Join(keys, name)] = layer
		}
		return fileItem(e)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("reading the cache %s: %w", dir, err)
	}
	return items, refs, nil
}

func fileItem(e fs.DirEntry) (LocalItem, bool, error) {
	fi, err := e.Info()
	if errors.Is(err, fs.ErrNotExist) {
		return LocalItem{}, false, nil
	}
	if err != nil || !fi.Mode().IsRegular() {
		return LocalItem{}, false, err
	}
	return LocalItem{Size: diskUsage(fi), LastUsed: fi.ModTime()}, true, nil
}

// treeUsage is the disk space of the tree at root (hard links counted
// once) and its newest modification time.
func treeUsage(root string) (size int64, newest time.Time, err error) {
	seen := map[uint64]bool{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrPermission) {
				return nil
			}
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 && !fi.IsDir() {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		size += diskUsage(fi)
		return nil
	})
	return size, newest, err
}

// diskUsage is the space a file takes on disk (its blocks), else its size.
func diskUsage(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}

// removeItem removes a file, or a directory even where an overlay work
// directory left no write permission, and the layer's use marker.
func removeItem(p string) error {
	_ = os.Remove(p + snapshot.UsedSuffix)
	if err := os.RemoveAll(p); err == nil {
		return nil
	}
	_ = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			_ = os.Chmod(q, 0o700)
		}
		return nil
	})
	return os.RemoveAll(p)
}

func roundAge(d time.Duration) time.Duration {
	if d > time.Hour {
		return d.Round(time.Hour)
	}
	return d.Round(time.Second)
}

package snapshot

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/skiff-dev/skiff/internal/oci"
)

// walker is the fallback Snapshotter: one flattened root filesystem that
// steps change in place, and a before/after comparison of every entry's
// metadata (ctime included, which no program can set back) to find what
// changed.
type walker struct {
	store   *Store
	opts    Options
	tmp     string
	root    string
	pending []Layer
	state   map[string]fileState
}

type fileState struct {
	mode, uid, gid uint32
	size, ino      int64
	mtime, ctime   int64
	isDir          bool
	// link is a symlink's target and nlink the link count (in-place
	// scans only).
	link  string
	nlink uint32
	// birth is a directory's creation time where the file system records
	// one (statx STATX_BTIME; 0 elsewhere): a directory removed and made
	// again may get the same inode number, and then only this tells the
	// new one from the old (in-place scans only).
	birth int64
	// holdsProtected marks a directory with protected paths below it
	// (in-place scans only).
	holdsProtected bool
}

func (w *walker) Append(l Layer) { w.pending = append(w.pending, l) }

func (w *walker) Close() error {
	if w.tmp == "" {
		return nil
	}
	return removeAll(w.tmp)
}

// prepare applies pending layers to the root filesystem and records its
// state.
func (w *walker) prepare(ctx context.Context) error {
	if w.root == "" {
		tmp, err := w.store.TempDir("rootfs")
		if err != nil {
			return err
		}
		w.tmp, w.root = tmp, filepath.Join(tmp, "rootfs")
		if err := os.Mkdir(w.root, 0o755); err != nil {
			return err
		}
	}
	if len(w.pending) == 0 && w.state != nil {
		return nil
	}
	for _, l := range w.pending {
		if err := w.apply(ctx, l); err != nil {
			return err
		}
	}
	w.pending = nil
	st, err := scan(w.root)
	if err != nil {
		return err
	}
	w.state = st
	return nil
}

func (w *walker) apply(ctx context.Context, l Layer) error {
	rc, err := uncompressed(l)
	if err != nil {
		return fmt.Errorf("reading layer: %w", err)
	}
	defer rc.Close()
	if _, err := oci.Extract(ctx, rc, w.root, oci.ExtractOptions{SkipOwnership: os.Geteuid() != 0, Devices: w.opts.Devices}); err != nil {
		return fmt.Errorf("applying layer: %w", err)
	}
	return rc.Close()
}

func (w *walker) View(ctx context.Context, fn func(root string) error) error {
	if err := w.prepare(ctx); err != nil {
		return err
	}
	return fn(w.root)
}

func (w *walker) Change(ctx context.Context, fn func(root string) error, out io.Writer) (Diff, error) {
	if err := w.prepare(ctx); err != nil {
		return Diff{}, err
	}
	fnErr := fn(w.root)
	after, err := scan(w.root)
	if err != nil {
		return Diff{}, err
	}
	before := w.state
	w.state = after
	if fnErr != nil {
		return Diff{}, fnErr
	}

	type change struct {
		name    string
		deleted bool
	}
	var changes []change
	for p, st := range after {
		if old, ok := before[p]; !ok || old != st {
			changes = append(changes, change{name: p})
		}
	}
	for p := range before {
		if _, ok := after[p]; ok {
			continue
		}
		// A deletion is recorded where the parent still is a directory;
		// deeper deletions go with their deleted or replaced parent.
		parent := path.Dir(p)
		if st, ok := after[parent]; parent == "." || (ok && st.isDir) {
			changes = append(changes, change{name: p, deleted: true})
		}
	}
	sort.Slice(changes, func(i, j int) bool { return tarLess(changes[i].name, changes[j].name) })

	lw := newLayerWriter(out, w.opts)
	for _, c := range changes {
		host := filepath.Join(w.root, c.name)
		if c.deleted {
			mtime := time.Unix(0, after[path.Dir(c.name)].mtime)
			if err := lw.whiteout(c.name, mtime); err != nil {
				return Diff{}, err
			}
			continue
		}
		fi, err := os.Lstat(host)
		if err != nil {
			return Diff{}, err
		}
		if err := lw.add(host, c.name, fi); err != nil {
			return Diff{}, err
		}
	}
	return lw.close()
}

// tarLess orders paths so that a directory comes right before its
// contents, the order a depth-first walk of sorted directories produces.
func tarLess(a, b string) bool {
	return strings.ReplaceAll(a, "/", "\x00") < strings.ReplaceAll(b, "/", "\x00")
}

// scan records the metadata of every entry below root.
func scan(root string) (map[string]fileState, error) {
	out := map[string]fileState{}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		st := fi.Sys().(*syscall.Stat_t)
		rel := p[len(root)+1:]
		out[rel] = fileState{
			mode: st.Mode, uid: st.Uid, gid: st.Gid, size: st.Size, ino: int64(st.Ino),
			mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(), isDir: fi.IsDir(),
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scanning %s: %w", root, err)
	}
	return out, nil
}

package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/skiff-dev/skiff/internal/oci"
)

// Tree is a root filesystem that steps change in place: a directory — /
// itself in container mode — holding one stage's files at a time. Each
// in-place Snapshotter (Tree.New) owns the tree while it changes it: the
// tree is emptied of everything not Protected and the snapshotter's layers
// are unpacked into it, and after each step a walk that compares metadata
// with the previous walk finds what changed, reading content only for
// that. A Tree serves one build, from one goroutine: its snapshotters are
// used one at a time (a step may view another stage while it changes the
// tree, never change two at once).
type Tree struct {
	dir     string
	protect *Protected
	store   *Store

	owner *inPlace // whose layers the tree holds, nil when unknown
	depth int      // how many of owner's layers it holds
	state map[string]fileState
	kids  map[string]map[string]bool // names in each directory of state
	watch *watcher
	// noWatch makes every snapshot walk the whole tree (tests, benchmarks).
	noWatch bool
}

// NewTree returns the tree at dir. Nothing changes in dir until a
// snapshotter of the tree first runs a step.
func (s *Store) NewTree(dir string, protect *Protected) *Tree {
	return &Tree{dir: filepath.Clean(dir), protect: protect, store: s}
}

// Protection answers oci.ExtractOptions.Protect for the tree's paths: the
// protected paths it was made with.
func (t *Tree) Protection() func(hostPath string) oci.Protection { return t.protect.Check }

// Dir is the tree's directory.
func (t *Tree) Dir() string { return t.dir }

// New returns an empty in-place Snapshotter of the tree. Its View of a
// stack the tree does not hold unpacks the layers into a scratch directory
// of the store instead (COPY --from another stage).
func (t *Tree) New(opts Options) Snapshotter {
	return &inPlace{tree: t, opts: opts}
}

type inPlace struct {
	tree  *Tree
	opts  Options
	stack []Layer
	// tmp holds the layers this snapshotter produced, so that the tree can
	// be rebuilt from them and other stages can view them.
	tmp string
	// view is a walk snapshotter of the same stack, for views while the
	// tree holds another stack; viewed counts the layers appended to it.
	view   Snapshotter
	viewed int
}

func (s *inPlace) Append(l Layer) { s.stack = append(s.stack, l) }

func (s *inPlace) Close() error {
	var err error
	if s.view != nil {
		err = s.view.Close()
	}
	if s.tmp != "" {
		err = errors.Join(err, removeAll(s.tmp))
	}
	if t := s.tree; t.owner == s {
		t.owner = nil
		t.watch.close()
		t.watch = nil
	}
	return err
}

func (s *inPlace) Change(ctx context.Context, fn func(root string) error, w io.Writer) (Diff, error) {
	t := s.tree
	if err := t.acquire(ctx, s); err != nil {
		t.owner = nil
		return Diff{}, err
	}
	fnErr := fn(t.dir)
	if fnErr != nil {
		t.owner = nil // what the tree holds is no longer a known stack
		return Diff{}, fnErr
	}
	before, cands, moved, err := t.afterStep()
	if err != nil {
		t.owner = nil
		return Diff{}, err
	}
	after := t.state
	if s.tmp == "" {
		if s.tmp, err = t.store.TempDir("inplace"); err != nil {
			t.owner = nil
			return Diff{}, err
		}
	}
	f, err := os.CreateTemp(s.tmp, "layer-*.tar")
	if err != nil {
		t.owner = nil
		return Diff{}, err
	}
	diff, err := t.writeLayer(io.MultiWriter(w, f), before, after, cands, moved, s.opts)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil || diff.Entries == 0 {
		_ = os.Remove(f.Name())
		if err != nil {
			t.owner = nil
		}
		return diff, err
	}
	s.stack = append(s.stack, fileLayer{path: f.Name(), diffID: diff.DiffID})
	t.depth = len(s.stack)
	return diff, nil
}

// writeLayer writes the layer of the change from before to after.
func (t *Tree) writeLayer(w io.Writer, before, after map[string]fileState, cands []string, moved map[string]bool, opts Options) (Diff, error) {
	lw := newLayerWriter(w, opts)
	var rootTime time.Time
	if fi, err := os.Lstat(t.dir); err == nil {
		rootTime = fi.ModTime()
	}
	parentTime := func(name string) time.Time {
		if d := filepath.Dir(name); d != "." {
			return mtimeOf(after, d)
		}
		return rootTime
	}
	for _, e := range diffStates(before, after, cands, moved) {
		host := filepath.Join(t.dir, e.name)
		switch e.kind {
		case emitWhiteout:
			if err := lw.whiteout(e.name, parentTime(e.name)); err != nil {
				return Diff{}, err
			}
		case emitOpaque:
			if err := lw.opaque(e.name, mtimeOf(after, e.name)); err != nil {
				return Diff{}, err
			}
		default:
			fi, err := os.Lstat(host)
			if err != nil {
				return Diff{}, err
			}
			if err := lw.add(host, e.name, fi); err != nil {
				return Diff{}, err
			}
		}
	}
	return lw.close()
}

func (s *inPlace) View(ctx context.Context, fn func(root string) error) error {
	t := s.tree
	if t.owner == s && t.depth == len(s.stack) && t.state != nil {
		return fn(t.dir)
	}
	if s.view == nil {
		v, err := t.store.New(Walk, s.opts)
		if err != nil {
			return err
		}
		s.view = v
	}
	for ; s.viewed < len(s.stack); s.viewed++ {
		s.view.Append(s.stack[s.viewed])
	}
	return s.view.View(ctx, fn)
}

// acquire makes the tree hold s's stack: the layers it lacks are unpacked
// on top, or, when it holds another stack, it is emptied and all of them
// unpacked; then its state is recorded.
func (t *Tree) acquire(ctx context.Context, s *inPlace) error {
	if t.owner == s && t.depth == len(s.stack) && t.state != nil {
		return nil
	}
	from := 0
	if t.owner == s && t.depth <= len(s.stack) && t.state != nil {
		from = t.depth
	} else {
		if err := t.clear(); err != nil {
			return err
		}
	}
	t.owner, t.state = s, nil
	for i := from; i < len(s.stack); i++ {
		if err := t.apply(ctx, s.stack[i]); err != nil {
			return err
		}
	}
	kids := map[string]map[string]bool{}
	st, err := scanTree(t.dir, t.protect, kids)
	if err != nil {
		return err
	}
	t.depth, t.state, t.kids = len(s.stack), st, kids
	t.rewatch()
	return nil
}

// clear removes everything in the tree that is not protected.
func (t *Tree) clear() error {
	return t.clearDir(t.dir)
}

func (t *Tree) clearDir(dir string) error {
	names, err := sortedNames(dir)
	if err != nil {
		return err
	}
	for _, n := range names {
		p := filepath.Join(dir, n)
		switch t.protect.entry(p) {
		case oci.Protected:
			continue
		case oci.ContainsProtected:
			if err := t.clearDir(p); err != nil {
				return err
			}
			continue
		}
		if err := removeAll(p); err != nil {
			return fmt.Errorf("emptying %s: %w", dir, err)
		}
	}
	return nil
}

// apply unpacks one layer into the tree.
func (t *Tree) apply(ctx context.Context, l Layer) error {
	rc, err := uncompressed(l)
	if err != nil {
		return fmt.Errorf("reading layer: %w", err)
	}
	defer rc.Close()
	if _, err := oci.Extract(ctx, rc, t.dir, oci.ExtractOptions{Protect: t.protect.Check, SkipOwnership: os.Geteuid() != 0}); err != nil {
		return fmt.Errorf("applying layer: %w", err)
	}
	return rc.Close()
}

func mtimeOf(states map[string]fileState, name string) time.Time {
	return time.Unix(0, states[name].mtime)
}

// fileLayer is a layer tar this process wrote.
type fileLayer struct {
	path   string
	diffID v1.Hash
}

func (l fileLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }

func (l fileLayer) Uncompressed() (io.ReadCloser, error) { return os.Open(l.path) }

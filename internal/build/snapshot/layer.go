package snapshot

import (
	"context"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Layer is what a Snapshotter needs from an image layer: its identity and,
// only when it must be extracted, its uncompressed tar.
type Layer interface {
	DiffID() (v1.Hash, error)
	Uncompressed() (io.ReadCloser, error)
}

// Diff describes the layer a change produced.
type Diff struct {
	// DiffID is the sha256 of the uncompressed tar.
	DiffID v1.Hash
	// Size is the length of the uncompressed tar.
	Size int64
	// Entries counts tar entries, whiteouts included; 0 means the step
	// changed nothing and no layer is needed.
	Entries int
}

// Options configures how layer tars are written.
type Options struct {
	// Epoch, when set, clamps every modification time in produced layers to
	// it (SOURCE_DATE_EPOCH, --reproducible).
	Epoch *time.Time
	// Devices creates the device nodes of layers when they are extracted
	// and lets them be opened through overlay mounts; without it they are
	// left out of extracted layers and every mount is nodev.
	Devices bool
}

// Snapshotter gives build steps a root filesystem made of a stack of layers
// and records each step's changes as a new layer on top.
type Snapshotter interface {
	// Append puts an existing layer on top of the stack. It is extracted
	// only if a later Change or View needs the files.
	Append(l Layer)
	// Change runs fn with a writable root filesystem made of the stack,
	// writes what fn changed as a layer tar to w, and puts that layer on the
	// stack. An empty change writes an empty tar and reports Entries 0.
	Change(ctx context.Context, fn func(root string) error, w io.Writer) (Diff, error)
	// View runs fn with the stack's files at root; fn must not change them.
	View(ctx context.Context, fn func(root string) error) error
	// Close releases what the Snapshotter holds.
	Close() error
}

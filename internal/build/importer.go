package build

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/skiff-dev/skiff/internal/build/snapshot"
	"github.com/skiff-dev/skiff/internal/oci"
)

// ImportOptions configure ImportRootFS.
type ImportOptions struct {
	// Config is the image configuration; a missing PATH gets the usual one.
	Config v1.Config
	// Epoch, when set, is the image's creation time and clamps file times.
	Epoch       *time.Time
	Compression oci.Compression
	// Blobs receives the layer.
	Blobs *oci.Blobs
}

// ImportRootFS makes a single-layer linux/amd64 image from a root
// filesystem: a directory (owners, modes, links, xattrs and devices kept)
// or a tar archive, optionally gzip, bzip2 or zstd compressed, taken as the
// layer's content.
func ImportRootFS(ctx context.Context, src string, opts ImportOptions) (v1.Image, error) {
	if opts.Compression == "" {
		opts.Compression = oci.Gzip
	}
	fi, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("image import: %w", err)
	}
	bw, err := opts.Blobs.Create(opts.Compression)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		_, err = snapshot.WriteDir(bw, src, snapshot.Options{Epoch: opts.Epoch})
	} else {
		err = copyArchive(ctx, bw, src)
	}
	if err != nil {
		bw.Abort()
		return nil, fmt.Errorf("image import %s: %w", src, err)
	}
	layer, err := bw.Commit()
	if err != nil {
		return nil, err
	}
	created := time.Now().UTC()
	if opts.Epoch != nil {
		created = *opts.Epoch
	}
	cfg := opts.Config
	hasPath := false
	for _, e := range cfg.Env {
		if len(e) > 5 && e[:5] == "PATH=" {
			hasPath = true
		}
	}
	if !hasPath {
		cfg.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, cfg.Env...)
	}
	diffID, _ := layer.DiffID()
	cf := &v1.ConfigFile{
		Architecture: "amd64", OS: "linux", Created: v1.Time{Time: created}, Config: cfg,
		RootFS:  v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{diffID}},
		History: []v1.History{{Created: v1.Time{Time: created}, CreatedBy: "skiff image import"}},
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.Append(img, mutate.Addendum{Layer: layer}); err != nil {
		return nil, err
	}
	return mutate.ConfigFile(img, cf)
}

// copyArchive streams a tar archive, decompressing it, into w.
func copyArchive(ctx context.Context, w io.Writer, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	r, ok := oci.ArchiveReader(f)
	if !ok {
		return fmt.Errorf("not a directory or a tar archive")
	}
	_, err = io.Copy(w, readerCtx{ctx, r})
	return err
}

type readerCtx struct {
	ctx context.Context
	r   io.Reader
}

func (r readerCtx) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

package ko

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// layerCache is a directory of the digests of binary layers already
// compressed, keyed by the uncompressed layer's digest, as ko's KOCACHE
// keeps them (pkg/build/cache.go): a rebuild of an unchanged binary knows
// its layer's digest without compressing it, and compresses it only if
// the bytes are asked for (a registry that lacks the blob). Empty is no
// cache.
type layerCache string

// layerMeta is one cache entry.
type layerMeta struct {
	Digest v1.Hash `json:"digest"`
	Size   int64   `json:"size"`
}

// entry is where the digest of the compressed layer whose uncompressed
// digest is diffID lives. gzip output can change with the Go release
// skiff is built with, so each release has its own entries.
func (c layerCache) entry(diffID v1.Hash) string {
	return filepath.Join(string(c), "layers", runtime.Version(), diffID.Hex+".json")
}

// binaryLayer is the layer of the binary at appPath (see tarBinary).
func (c layerCache) binaryLayer(binary, appPath string, mt types.MediaType) (v1.Layer, error) {
	tarred, err := tarBinary(appPath, binary)
	if err != nil {
		return nil, err
	}
	fresh := func() (v1.Layer, error) {
		return tarball.LayerFromOpener(bytesOpener(tarred), tarball.WithCompressedCaching, tarball.WithMediaType(mt))
	}
	if c == "" {
		return fresh()
	}
	sum := sha256.Sum256(tarred)
	diffID := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
	if b, err := os.ReadFile(c.entry(diffID)); err == nil {
		var m layerMeta
		if json.Unmarshal(b, &m) == nil && m.Digest.Hex != "" && m.Size > 0 {
			return &cachedLayer{meta: m, entry: c.entry(diffID), diffID: diffID, mt: mt, fresh: fresh}, nil
		}
	}
	l, err := fresh()
	if err != nil {
		return nil, err
	}
	d, err := l.Digest()
	if err != nil {
		return nil, err
	}
	size, err := l.Size()
	if err != nil {
		return nil, err
	}
	// The cache only saves work: an entry not written is compressed anew
	// next time.
	if b, err := json.Marshal(layerMeta{Digest: d, Size: size}); err == nil {
		c.put(c.entry(diffID), b)
	}
	return l, nil
}

// put writes an entry whole, so that a build running at the same time
// reads the old state or the new, never half of one.
func (c layerCache) put(entry string, b []byte) {
	if os.MkdirAll(filepath.Dir(entry), 0o755) != nil {
		return
	}
	f, err := os.CreateTemp(filepath.Dir(entry), ".entry-*")
	if err != nil {
		return
	}
	_, werr := f.Write(b)
	if cerr := f.Close(); werr != nil || cerr != nil || os.Rename(f.Name(), entry) != nil {
		_ = os.Remove(f.Name())
	}
}

// cachedLayer answers for its digests from the cache and makes its bytes
// only when they are read.
type cachedLayer struct {
	meta   layerMeta
	entry  string
	diffID v1.Hash
	mt     types.MediaType
	fresh  func() (v1.Layer, error)

	once  sync.Once
	layer v1.Layer
	err   error
}

func (l *cachedLayer) Digest() (v1.Hash, error)            { return l.meta.Digest, nil }
func (l *cachedLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *cachedLayer) Size() (int64, error)                { return l.meta.Size, nil }
func (l *cachedLayer) MediaType() (types.MediaType, error) { return l.mt, nil }

func (l *cachedLayer) build() (v1.Layer, error) {
	l.once.Do(func() {
		l.layer, l.err = l.fresh()
		if l.err != nil {
			return
		}
		// Compressing again must give the bytes the entry names, or a
		// registry would refuse the upload.
		d, err := l.layer.Digest()
		if err != nil {
			l.err = err
		} else if d != l.meta.Digest {
			l.err = fmt.Errorf("the ko cache entry %s names layer %s, but the binary compresses to %s: remove the entry and build again", l.entry, l.meta.Digest, d)
		}
	})
	return l.layer, l.err
}

func (l *cachedLayer) Compressed() (io.ReadCloser, error) {
	layer, err := l.build()
	if err != nil {
		return nil, err
	}
	return layer.Compressed()
}

func (l *cachedLayer) Uncompressed() (io.ReadCloser, error) {
	layer, err := l.build()
	if err != nil {
		return nil, err
	}
	return layer.Uncompressed()
}

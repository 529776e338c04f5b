package oci

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Compression is a layer compression algorithm.
type Compression string

const (
	// Gzip is the default and what every registry and runtime reads.
	Gzip Compression = "gzip"
	// Zstd is smaller and faster to decompress; containerd 1.5+ reads it.
	Zstd Compression = "zstd"
)

// ParseCompression validates a --compression value.
func ParseCompression(s string) (Compression, error) {
	switch Compression(s) {
	case "", Gzip:
		return Gzip, nil
	case Zstd:
		return Zstd, nil
	}
	return "", fmt.Errorf("unknown compression %q (want gzip or zstd)", s)
}

// MediaType is the OCI layer media type for c.
func (c Compression) MediaType() types.MediaType {
	if c == Zstd {
		return types.OCILayerZStd
	}
	return types.OCILayer
}

// Blobs is a directory of compressed layer blobs named by digest, with
// enough metadata in each layer value to push it without reading it.
type Blobs struct{ dir string }

// OpenBlobs opens (creating) a blob directory.
func OpenBlobs(dir string) (*Blobs, error) {
	if err := os.MkdirAll(filepath.Join(dir, "sha256"), 0o700); err != nil {
		return nil, fmt.Errorf("creating blob directory: %w", err)
	}
	return &Blobs{dir: dir}, nil
}

// Dir is the blob directory.
func (b *Blobs) Dir() string { return b.dir }

func (b *Blobs) path(h v1.Hash) string { return filepath.Join(b.dir, h.Algorithm, h.Hex) }

// Path is where the blob h is (or would be) stored.
func (b *Blobs) Path(h v1.Hash) string { return b.path(h) }

// Desc is what is known about a stored layer.
type Desc struct {
	Digest    v1.Hash         `json:"digest"`
	DiffID    v1.Hash         `json:"diffID"`
	Size      int64           `json:"size"`
	MediaType types.MediaType `json:"mediaType"`
}

// Layer returns the stored layer d describes, if its blob is present.
func (b *Blobs) Layer(d Desc) (v1.Layer, bool) {
	fi, err := os.Stat(b.path(d.Digest))
	if err != nil || fi.Size() != d.Size {
		return nil, false
	}
	return &blobLayer{path: b.path(d.Digest), desc: d}, true
}

// BlobWriter compresses an uncompressed layer tar into the directory,
// digesting both forms as they stream. Compression runs in its own
// goroutine so producing the tar and compressing it overlap.
type BlobWriter struct {
	b       *Blobs
	f       *os.File
	c       Compression
	diff    hash.Hash
	pw      *io.PipeWriter
	bw      *bufio.Writer
	done    chan error
	digest  hash.Hash
	size    int64
	written int64
}

// Create starts a new blob.
func (b *Blobs) Create(c Compression) (*BlobWriter, error) {
	f, err := os.CreateTemp(b.dir, "tmp-")
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	w := &BlobWriter{b: b, f: f, c: c, diff: sha256.New(), digest: sha256.New(), pw: pw, done: make(chan error, 1)}
	w.bw = bufio.NewWriterSize(pw, 1<<20)
	go func() {
		err := w.compress(pr)
		pr.CloseWithError(err)
		w.done <- err
	}()
	return w, nil
}

func (w *BlobWriter) compress(r io.Reader) error {
	out := io.MultiWriter(w.f, w.digest, countWriter{&w.size})
	var zw io.WriteCloser
	var err error
	switch w.c {
	case Zstd:
		zw, err = zstd.NewWriter(out, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault))
	default:
		zw, err = gzip.NewWriterLevel(out, gzip.DefaultCompression)
	}
	if err != nil {
		return err
	}
	if _, err := io.Copy(zw, r); err != nil {
		return err
	}
	return zw.Close()
}

type countWriter struct{ n *int64 }

func (c countWriter) Write(p []byte) (int, error) { *c.n += int64(len(p)); return len(p), nil }

// Write takes uncompressed tar bytes.
func (w *BlobWriter) Write(p []byte) (int, error) {
	w.diff.Write(p)
	w.written += int64(len(p))
	return w.bw.Write(p)
}

// Commit finishes the blob and returns it as a layer.
func (w *BlobWriter) Commit() (v1.Layer, error) {
	err := w.bw.Flush()
	w.pw.CloseWithError(err)
	if cerr := <-w.done; err == nil {
		err = cerr
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(w.f.Name())
		return nil, fmt.Errorf("compressing layer: %w", err)
	}
	d := Desc{
		Digest:    v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", w.digest.Sum(nil))},
		DiffID:    v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", w.diff.Sum(nil))},
		Size:      w.size,
		MediaType: w.c.MediaType(),
	}
	dst := w.b.path(d.Digest)
	if _, err := os.Stat(dst); err == nil {
		os.Remove(w.f.Name())
	} else if err := os.Rename(w.f.Name(), dst); err != nil {
		os.Remove(w.f.Name())
		return nil, fmt.Errorf("storing layer: %w", err)
	}
	return &blobLayer{path: dst, desc: d}, nil
}

// Abort discards the blob.
func (w *BlobWriter) Abort() {
	w.pw.CloseWithError(errors.New("aborted"))
	<-w.done
	w.f.Close()
	os.Remove(w.f.Name())
}

// Uncompressed is the number of uncompressed bytes written so far.
func (w *BlobWriter) Uncompressed() int64 { return w.written }

// blobLayer is a layer stored in a Blobs directory.
type blobLayer struct {
	path string
	desc Desc
}

// DescOf returns what the layer's descriptor says without reading it.
func DescOf(l v1.Layer) (Desc, error) {
	if bl, ok := l.(*blobLayer); ok {
		return bl.desc, nil
	}
	var d Desc
	var err error
	if d.Digest, err = l.Digest(); err != nil {
		return d, err
	}
	if d.DiffID, err = l.DiffID(); err != nil {
		return d, err
	}
	if d.Size, err = l.Size(); err != nil {
		return d, err
	}
	d.MediaType, err = l.MediaType()
	return d, err
}

func (l *blobLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *blobLayer) DiffID() (v1.Hash, error)            { return l.desc.DiffID, nil }
func (l *blobLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *blobLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l *blobLayer) Compressed() (io.ReadCloser, error)  { return os.Open(l.path) }

func (l *blobLayer) Uncompressed() (io.ReadCloser, error) {
	f, err := os.Open(l.path)
	if err != nil {
		return nil, err
	}
	return Decompress(f, l.desc.MediaType)
}

// Decompress wraps a compressed layer stream according to its media type.
func Decompress(rc io.ReadCloser, mt types.MediaType) (io.ReadCloser, error) {
	switch mt {
	case types.OCILayerZStd:
		zr, err := zstd.NewReader(rc)
		if err != nil {
			rc.Close()
			return nil, err
		}
		return readCloser{zr.IOReadCloser(), rc}, nil
	case types.OCIUncompressedLayer, types.DockerUncompressedLayer, types.OCIUncompressedRestrictedLayer:
		return rc, nil
	default:
		zr, err := gzip.NewReader(rc)
		if err != nil {
			rc.Close()
			return nil, err
		}
		return readCloser{zr, rc}, nil
	}
}

type readCloser struct {
	io.ReadCloser
	under io.Closer
}

func (r readCloser) Close() error {
	err := r.ReadCloser.Close()
	if uerr := r.under.Close(); err == nil {
		err = uerr
	}
	return err
}

// Has reports whether a blob with digest h is stored.
func (b *Blobs) Has(h v1.Hash) bool {
	_, err := os.Stat(b.path(h))
	return !errors.Is(err, fs.ErrNotExist)
}

// UncompressedFast opens a layer's uncompressed stream, decompressing with
// klauspost/compress (about twice as fast as the standard library's gzip)
// in a goroutine of its own, so that decompression overlaps with whatever
// the caller does with the bytes (extraction writes files).
func UncompressedFast(l v1.Layer) (io.ReadCloser, error) {
	var rc io.ReadCloser
	mt, err := l.MediaType()
	if err == nil && mt != types.DockerForeignLayer && mt != types.OCIRestrictedLayer {
		if crc, cerr := l.Compressed(); cerr == nil {
			rc, err = Decompress(crc, mt)
		} else {
			err = cerr
		}
	}
	if rc == nil || err != nil {
		if rc, err = l.Uncompressed(); err != nil {
			return nil, err
		}
	}
	return newReadAhead(rc), nil
}

// readAhead reads its source in a goroutine, a few chunks ahead.
type readAhead struct {
	src    io.ReadCloser
	chunks chan []byte
	err    error // set before chunks is closed
	cur    []byte
	done   chan struct{}
}

func newReadAhead(src io.ReadCloser) *readAhead {
	r := &readAhead{src: src, chunks: make(chan []byte, 16), done: make(chan struct{})}
	go func() {
		defer close(r.chunks)
		for {
			buf := make([]byte, 256<<10)
			n, err := io.ReadFull(src, buf)
			if n > 0 {
				select {
				case r.chunks <- buf[:n]:
				case <-r.done:
					return
				}
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				r.err = io.EOF
				return
			}
			if err != nil {
				r.err = err
				return
			}
		}
	}()
	return r
}

func (r *readAhead) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		c, ok := <-r.chunks
		if !ok {
			return 0, r.err
		}
		r.cur = c
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

func (r *readAhead) Close() error {
	select {
	case <-r.done:
	default:
		close(r.done)
	}
	for range r.chunks { // let the reader goroutine finish
	}
	return r.src.Close()
}

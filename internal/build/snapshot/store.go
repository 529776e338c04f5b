package snapshot

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/skiff-dev/skiff/internal/oci"
)

// Store keeps every layer it has seen extracted once, in a directory named
// by its diff ID, in the form overlayfs reads as a lower directory. Those
// directories are never written after they are complete, so any number of
// builds can stack them at once.
type Store struct {
	root string

	mu    sync.Mutex
	locks map[string]*sync.Mutex

	probeOnce sync.Once
	probeErr  error
}

// OpenStore opens (creating) a store under root. Temporary directories left
// by an interrupted build are removed.
func OpenStore(root string) (*Store, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"layers", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, fmt.Errorf("creating layer store: %w", err)
		}
	}
	s := &Store{root: root, locks: map[string]*sync.Mutex{}}
	s.cleanStale()
	return s, nil
}

// Root is the directory the store lives in.
func (s *Store) Root() string { return s.root }

// cleanStale unmounts and removes temporary directories of processes that
// no longer run (their name starts with the owner's pid).
func (s *Store) cleanStale() {
	tmp := filepath.Join(s.root, "tmp")
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return
	}
	for _, e := range ents {
		pid, _, ok := strings.Cut(e.Name(), "-")
		if !ok {
			continue
		}
		if _, err := os.Stat(filepath.Join("/proc", pid)); err == nil {
			continue
		}
		dir := filepath.Join(tmp, e.Name())
		unmountBelow(dir)
		_ = removeAll(dir)
	}
}

// unmountBelow detaches every mount at or under dir.
func unmountBelow(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			points = append(points, fields[4])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		_ = unix.Unmount(points[i], unix.MNT_DETACH)
	}
}

// removeAll removes p even where directories were left without write or
// search permission (overlayfs's work directory is mode 0).
func removeAll(p string) error {
	err := os.RemoveAll(p)
	if err == nil {
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

// TempDir makes a private scratch directory on the store's filesystem.
func (s *Store) TempDir(kind string) (string, error) {
	return os.MkdirTemp(filepath.Join(s.root, "tmp"), fmt.Sprintf("%d-%s-", os.Getpid(), kind))
}

// layerDir is where the layer diffID is extracted; layers extracted with
// their device nodes live apart from those without.
func (s *Store) layerDir(diffID v1.Hash, devices bool) string {
	name := diffID.Algorithm + "-" + diffID.Hex
	if devices {
		name += "+dev"
	}
	return filepath.Join(LayersDir(s.root), name)
}

func (s *Store) lock(key string) func() {
	s.mu.Lock()
	m, ok := s.locks[key]
	if !ok {
		m = &sync.Mutex{}
		s.locks[key] = m
	}
	s.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// Has reports whether the layer with diffID is already extracted.
func (s *Store) Has(diffID v1.Hash) bool {
	_, err := os.Lstat(s.layerDir(diffID, false))
	return err == nil
}

// Dir returns the extracted directory of l, extracting it on first use
// (without device nodes).
func (s *Store) Dir(ctx context.Context, l Layer) (string, error) {
	return s.dir(ctx, l, false)
}

func (s *Store) dir(ctx context.Context, l Layer, devices bool) (string, error) {
	diffID, err := l.DiffID()
	if err != nil {
		return "", fmt.Errorf("reading layer diff ID: %w", err)
	}
	dir := s.layerDir(diffID, devices)
	if _, err := os.Lstat(dir); err == nil {
		markUsed(dir)
		return dir, nil
	}
	defer s.lock(diffID.String())()
	if _, err := os.Lstat(dir); err == nil {
		markUsed(dir)
		return dir, nil
	}
	tmp, err := s.TempDir("extract")
	if err != nil {
		return "", err
	}
	defer removeAll(tmp)
	rc, err := uncompressed(l)
	if err != nil {
		return "", fmt.Errorf("reading layer %s: %w", diffID, err)
	}
	defer rc.Close()
	fsDir := filepath.Join(tmp, "fs")
	if err := os.Mkdir(fsDir, 0o755); err != nil {
		return "", err
	}
	// The store is keyed by diff ID, so the content must be proven to have
	// it: a layer whose config lies about its diff ID must not be able to
	// poison the extracted copy other builds will share.
	h := sha256.New()
	tee := io.TeeReader(rc, h)
	xopts := oci.ExtractOptions{Whiteouts: oci.OverlayWhiteouts, SkipOwnership: os.Geteuid() != 0, Devices: devices, OpaqueXattr: opaqueXattr()}
	if _, err := oci.Extract(ctx, tee, fsDir, xopts); err != nil {
		return "", fmt.Errorf("extracting layer %s: %w", diffID, err)
	}
	if _, err := io.Copy(io.Discard, tee); err != nil { // padding after the end of the archive
		return "", fmt.Errorf("reading layer %s: %w", diffID, err)
	}
	if err := rc.Close(); err != nil {
		return "", fmt.Errorf("reading layer %s: %w", diffID, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); diffID.Algorithm != "sha256" || got != diffID.Hex {
		return "", fmt.Errorf("layer content has diff ID sha256:%s, not the %s its image declares", got, diffID)
	}
	if err := s.adopt(diffID, fsDir, devices); err != nil {
		return "", err
	}
	markUsed(dir)
	return dir, nil
}

// UsedSuffix ends the name of the file beside each extracted layer whose
// modification time is the layer's last use (`skiff cleanup --local` reads
// it). The layer's own directory is an overlay lower directory and keeps
// its times untouched.
const UsedSuffix = ".used"

// LayersDir is where a store rooted at root keeps extracted layers.
func LayersDir(root string) string { return filepath.Join(root, "layers") }

// markUsed records that the layer in dir was used now.
func markUsed(dir string) {
	now := time.Now()
	p := dir + UsedSuffix
	if os.Chtimes(p, now, now) == nil {
		return
	}
	if f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o600); err == nil {
		f.Close()
	}
}

// adopt moves a directory holding exactly the layer diffID into the store.
func (s *Store) adopt(diffID v1.Hash, dir string, devices bool) error {
	dst := s.layerDir(diffID, devices)
	if err := os.Rename(dir, dst); err != nil {
		if errors.Is(err, fs.ErrExist) || errors.Is(err, unix.ENOTEMPTY) {
			return removeAll(dir) // another build got there first; same content
		}
		return fmt.Errorf("storing layer %s: %w", diffID, err)
	}
	return nil
}

// uncompressed opens a layer's tar, decompressing fast and ahead of the
// reader when the layer can give its compressed form.
func uncompressed(l Layer) (io.ReadCloser, error) {
	if full, ok := l.(v1.Layer); ok {
		return oci.UncompressedFast(full)
	}
	return l.Uncompressed()
}

package snapshot

import (
	"archive/tar"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/skiff-dev/skiff/internal/oci"
)

// layerWriter writes a deterministic layer tar: callers add entries in
// sorted order, owner names are never recorded, times are clamped to the
// epoch when one is set, and a file reached again through a hardlink is
// written as a link to the first name.
type layerWriter struct {
	tw      *tar.Writer
	h       hash.Hash
	n       int64
	epoch   *time.Time
	links   map[[2]uint64]string
	entries int
}

func newLayerWriter(w io.Writer, opts Options) *layerWriter {
	lw := &layerWriter{h: sha256.New(), epoch: opts.Epoch, links: map[[2]uint64]string{}}
	lw.tw = tar.NewWriter(io.MultiWriter(w, lw.h, countWriter{&lw.n}))
	return lw
}

type countWriter struct{ n *int64 }

func (c countWriter) Write(p []byte) (int, error) { *c.n += int64(len(p)); return len(p), nil }

func (lw *layerWriter) clamp(t time.Time) time.Time {
	if lw.epoch != nil && t.After(*lw.epoch) {
		return *lw.epoch
	}
	return t
}

// add writes the file at host as the entry name (relative, no leading
// slash). Sockets are skipped, as no image format can carry them.
func (lw *layerWriter) add(host, name string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no stat information", host)
	}
	hdr := &tar.Header{
		Name:    name,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: lw.clamp(fi.ModTime()),
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
	case unix.S_IFREG:
		hdr.Typeflag = tar.TypeReg
		hdr.Size = st.Size
		if st.Nlink > 1 {
			key := [2]uint64{st.Dev, st.Ino}
			if first, ok := lw.links[key]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				lw.links[key] = name
			}
		}
	case unix.S_IFLNK:
		target, err := os.Readlink(host)
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil // sockets
	}
	xattrs, err := readXattrs(host)
	if err != nil {
		return fmt.Errorf("reading xattrs of %s: %w", host, err)
	}
	if len(xattrs) > 0 {
		hdr.PAXRecords = map[string]string{}
		for k, v := range xattrs {
			hdr.PAXRecords["SCHILY.xattr."+k] = v
		}
	}
	if err := lw.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	lw.entries++
	if hdr.Typeflag != tar.TypeReg || hdr.Size == 0 {
		return nil
	}
	f, err := os.OpenFile(host, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.CopyN(lw.tw, f, hdr.Size); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

// whiteout records that name was deleted.
func (lw *layerWriter) whiteout(name string, mtime time.Time) error {
	dir, base := path.Split(name)
	return lw.marker(dir+oci.WhiteoutPrefix+base, mtime)
}

// opaque records that the directory dir hides everything below it.
func (lw *layerWriter) opaque(dir string, mtime time.Time) error {
	return lw.marker(path.Join(dir, oci.WhiteoutOpaque), mtime)
}

func (lw *layerWriter) marker(name string, mtime time.Time) error {
	lw.entries++
	return lw.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0, ModTime: lw.clamp(mtime)})
}

func (lw *layerWriter) close() (Diff, error) {
	if err := lw.tw.Close(); err != nil {
		return Diff{}, err
	}
	return Diff{
		DiffID:  v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", lw.h.Sum(nil))},
		Size:    lw.n,
		Entries: lw.entries,
	}, nil
}

// readXattrs returns the extended attributes worth carrying in a layer:
// everything except overlayfs's bookkeeping and SELinux labels, which belong
// to the host.
func readXattrs(p string) (map[string]string, error) {
	sz, err := unix.Llistxattr(p, nil)
	if err != nil {
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		return nil, err
	}
	if sz == 0 {
		return nil, nil
	}
	buf := make([]byte, sz)
	sz, err = unix.Llistxattr(p, buf)
	if err != nil {
		return nil, err
	}
	var out map[string]string
	for _, name := range strings.Split(strings.TrimRight(string(buf[:sz]), "\x00"), "\x00") {
		if name == "" || isOverlayXattr(name) || name == "security.selinux" || strings.HasPrefix(name, "system.") {
			continue
		}
		val, err := getXattr(p, name)
		if err != nil {
			if errors.Is(err, unix.ENODATA) {
				continue
			}
			return nil, err
		}
		if out == nil {
			out = map[string]string{}
		}
		out[name] = val
	}
	return out, nil
}

func getXattr(p, name string) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(p, name, buf)
		if errors.Is(err, unix.ERANGE) {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
}

// sortedNames returns the entries of dir sorted by name.
func sortedNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

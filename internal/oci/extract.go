package oci

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// Whiteout names from the OCI image layout specification.
const (
	WhiteoutPrefix = ".wh."
	WhiteoutOpaque = ".wh..wh..opq"
	// OverlayOpaqueXattr marks an overlayfs directory whose lower contents
	// are hidden.
	OverlayOpaqueXattr = "trusted.overlay.opaque"
	// UserOverlayOpaqueXattr is OverlayOpaqueXattr for overlayfs mounted
	// with userxattr (in a user namespace).
	UserOverlayOpaqueXattr = "user.overlay.opaque"
)

// WhiteoutMode says how Extract represents deletions recorded in a layer.
type WhiteoutMode int

const (
	// ApplyWhiteouts deletes the whited-out paths from the directory, for
	// flattening layers one after another into a single root filesystem.
	ApplyWhiteouts WhiteoutMode = iota
	// OverlayWhiteouts records deletions the way overlayfs reads them from a
	// lower directory: a 0/0 character device per deleted name and the
	// trusted.overlay.opaque=y xattr on opaque directories.
	OverlayWhiteouts
)

// ExtractOptions configures Extract.
type ExtractOptions struct {
	Whiteouts WhiteoutMode
	// Prefix is a directory inside the root under which entries are placed
	// (ADD of a local archive); symlinks in it resolve inside the root.
	Prefix string
	// Chown, when set, overrides the owner recorded in the archive.
	Chown *[2]int
	// SkipOwnership leaves files owned by the current user (unprivileged use).
	SkipOwnership bool
	// Devices creates character and block device nodes; without it they
	// are skipped, so a layer cannot plant a device node (a disk, the
	// kernel log) on the host.
	Devices bool
	// OpaqueXattr is the xattr that marks opaque directories in
	// OverlayWhiteouts mode (default OverlayOpaqueXattr; overlayfs mounted
	// in a user namespace reads UserOverlayOpaqueXattr).
	OpaqueXattr string
	// Protect, when set, is asked about host paths before Extract writes,
	// replaces or removes them (container mode extracts into / and must
	// leave the container's own files alone). Entries at or below a
	// Protected path are skipped; a directory that ContainsProtected paths
	// is merged with, never replaced or emptied.
	Protect func(hostPath string) Protection
}

// Protection is how Extract treats a host path (ExtractOptions.Protect).
type Protection int

const (
	// Unprotected paths are extracted as usual.
	Unprotected Protection = iota
	// Protected paths, and everything below them, are left alone.
	Protected
	// ContainsProtected is a directory with protected paths below it.
	ContainsProtected
)

// errProtected skips an entry that would touch a protected path.
var errProtected = errors.New("protected path")

func (x *extractor) protection(p string) Protection {
	if x.opts.Protect == nil {
		return Unprotected
	}
	return x.opts.Protect(p)
}

// removeAll removes p, or, for a directory holding protected paths,
// everything in it that is not protected.
func (x *extractor) removeAll(p string) error {
	switch x.protection(p) {
	case Protected:
		return nil
	case ContainsProtected:
		ents, err := os.ReadDir(p)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if err := x.removeAll(filepath.Join(p, e.Name())); err != nil {
				return err
			}
		}
		return nil
	}
	return os.RemoveAll(p)
}

// ExtractStats counts what Extract wrote.
type ExtractStats struct {
	Entries int
	Bytes   int64
}

// Extract unpacks the uncompressed layer tar r into root. Entry names are
// confined to root: a name that climbs out with ".." is an error, and
// symlinks — kept verbatim, absolute or not — are only ever resolved inside
// root, never followed on the host. Hardlinks must point inside root.
// Existing entries are replaced as Docker does (a directory only merges with
// a directory), and whiteouts are handled as opts.Whiteouts says.
func Extract(ctx context.Context, r io.Reader, root string, opts ExtractOptions) (ExtractStats, error) {
	x := &extractor{root: root, opts: opts, created: map[string]bool{}}
	tr := tar.NewReader(r)
	var stats ExtractStats
	for {
		if err := ctx.Err(); err != nil {
			return stats, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return stats, fmt.Errorf("reading layer: %w", err)
		}
		n, err := x.entry(hdr, tr)
		if errors.Is(err, errProtected) {
			continue
		}
		if err != nil {
			return stats, fmt.Errorf("layer entry %q: %w", hdr.Name, err)
		}
		stats.Entries++
		stats.Bytes += n
	}
	if err := x.finish(); err != nil {
		return stats, err
	}
	return stats, nil
}

// dirTime is a directory's time, set once the layer is complete; path is
// relative to the root, since a later entry may have replaced a parent
// with a symlink.
type dirTime struct {
	path  string
	mtime time.Time
}

type extractor struct {
	root    string
	opts    ExtractOptions
	created map[string]bool // relative paths written by this layer
	opaque  []string        // directories to empty of older entries (apply mode)
	dirs    []dirTime
}

// clean returns the entry's path relative to the root, refusing names that
// climb out of it.
func clean(name string) (string, error) {
	if strings.ContainsRune(name, 0) {
		return "", errors.New("name contains a NUL byte")
	}
	p := path.Clean(strings.TrimLeft(name, "/"))
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", errors.New("path escapes the root through a .. element")
	}
	if rest, ok := strings.CutPrefix(name, "/"); ok {
		name = rest
	}
	// A ".." that stays inside the root after cleaning is still a sign of a
	// crafted archive; Docker refuses it too.
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", errors.New("path contains .. as an element")
		}
	}
	if p == "." {
		return "", nil
	}
	return p, nil
}

// resolveParent returns the host path of rel's parent directory with every
// symlink on the way resolved inside the root, creating missing directories.
func (x *extractor) resolveParent(rel string) (string, error) {
	dir := path.Dir(path.Join(x.opts.Prefix, rel))
	p, err := securejoin.SecureJoin(x.root, dir)
	if err != nil {
		return "", err
	}
	if x.protection(p) == Protected {
		return "", errProtected
	}
	if err := os.MkdirAll(p, 0o755); err != nil {
		return "", err
	}
	return p, nil
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) (int64, error) {
	rel, err := clean(hdr.Name)
	if err != nil {
		return 0, err
	}
	base := path.Base(rel)
	if rel == "" {
		base = "."
	}
	if strings.HasPrefix(base, WhiteoutPrefix) {
		return 0, x.whiteout(rel, base)
	}
	var target string
	if full := path.Join(x.opts.Prefix, rel); full == "" || full == "." || full == "/" {
		target = x.root
	} else if rel == "" {
		if target, err = securejoin.SecureJoin(x.root, full); err != nil {
			return 0, err
		}
		if err := os.MkdirAll(target, 0o755); err != nil {
			return 0, err
		}
	} else {
		parent, err := x.resolveParent(rel)
		if err != nil {
			return 0, err
		}
		target = filepath.Join(parent, base)
	}
	if !within(x.root, target) {
		return 0, errors.New("path escapes the root")
	}
	if p := x.protection(target); p == Protected || (p == ContainsProtected && hdr.Typeflag != tar.TypeDir) {
		return 0, errProtected
	}
	for p := path.Join(x.opts.Prefix, rel); p != "." && p != "/" && !x.created[p]; p = path.Dir(p) {
		x.created[p] = true
	}

	if fi, err := os.Lstat(target); err == nil {
		if !(fi.IsDir() && hdr.Typeflag == tar.TypeDir) {
			if target == x.root {
				return 0, errors.New("cannot replace the root directory")
			}
			if err := x.removeAll(target); err != nil {
				return 0, err
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}

	mode := uint32(hdr.Mode) & 0o7777
	var n int64
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := os.Mkdir(target, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return 0, err
		}
	//lint:ignore SA1019 old archives still use TypeRegA
	case tar.TypeReg, tar.TypeRegA:
		f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY|unix.O_NOFOLLOW, 0o600)
		if err != nil {
			return 0, err
		}
		n, err = io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return n, err
		}
	case tar.TypeSymlink:
		if err := os.Symlink(hdr.Linkname, target); err != nil {
			return 0, err
		}
	case tar.TypeLink:
		lrel, err := clean(hdr.Linkname)
		if err != nil || lrel == "" {
			return 0, fmt.Errorf("hardlink target %q is outside the root", hdr.Linkname)
		}
		src, err := securejoin.SecureJoin(x.root, path.Join(x.opts.Prefix, lrel))
		if err != nil {
			return 0, err
		}
		if x.protection(src) != Unprotected {
			return 0, errProtected
		}
		if fi, err := os.Lstat(src); err != nil {
			return 0, fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err)
		} else if fi.IsDir() {
			return 0, fmt.Errorf("hardlink target %q is a directory", hdr.Linkname)
		}
		if err := os.Link(src, target); err != nil {
			return 0, err
		}
		return 0, nil // the link shares the target's metadata
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		if x.opts.SkipOwnership {
			return 0, nil // mknod needs privileges; skip like rootless builders do
		}
		if hdr.Typeflag != tar.TypeFifo && !x.opts.Devices {
			return 0, nil
		}
		m := mode
		switch hdr.Typeflag {
		case tar.TypeChar:
			m |= unix.S_IFCHR
		case tar.TypeBlock:
			m |= unix.S_IFBLK
		default:
			m |= unix.S_IFIFO
		}
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknod(target, m, int(dev)); err != nil {
			return 0, err
		}
	case tar.TypeXGlobalHeader:
		return 0, nil
	default:
		return 0, nil // sockets and unknown types are not part of images
	}
	return n, x.metadata(target, path.Join(x.opts.Prefix, rel), hdr, mode)
}

func (x *extractor) metadata(target, rel string, hdr *tar.Header, mode uint32) error {
	if !x.opts.SkipOwnership {
		uid, gid := hdr.Uid, hdr.Gid
		if x.opts.Chown != nil {
			uid, gid = x.opts.Chown[0], x.opts.Chown[1]
		}
		if err := Lchown(target, uid, gid); err != nil {
			return err
		}
	}
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok || strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.") {
			continue // overlay metadata comes only from whiteouts skiff converts
		}
		if err := unix.Lsetxattr(target, name, []byte(v), 0); err != nil && !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("setting xattr %s: %w", name, err)
		}
	}
	if hdr.Typeflag != tar.TypeSymlink {
		if err := unix.Fchmodat(unix.AT_FDCWD, target, mode, 0); err != nil {
			return err
		}
	}
	if hdr.Typeflag == tar.TypeDir {
		x.dirs = append(x.dirs, dirTime{rel, hdr.ModTime})
		return nil
	}
	return lutimes(target, hdr.ModTime)
}

func lutimes(p string, mtime time.Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(mtime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil && !errors.Is(err, unix.ENOTSUP) {
		return err
	}
	return nil
}

func (x *extractor) whiteout(rel, base string) error {
	parent, err := x.resolveParent(rel)
	if err != nil {
		return err
	}
	if base == WhiteoutOpaque {
		if x.opts.Whiteouts == OverlayWhiteouts {
			name := x.opts.OpaqueXattr
			if name == "" {
				name = OverlayOpaqueXattr
			}
			return unix.Lsetxattr(parent, name, []byte("y"), 0)
		}
		x.opaque = append(x.opaque, path.Join(x.opts.Prefix, path.Dir(rel)))
		return nil
	}
	victim := strings.TrimPrefix(base, WhiteoutPrefix)
	if victim == "" || victim == "." || victim == ".." {
		return fmt.Errorf("invalid whiteout %q", base)
	}
	target := filepath.Join(parent, victim)
	if !within(x.root, target) || target == x.root {
		return errors.New("whiteout escapes the root")
	}
	if err := x.removeAll(target); err != nil {
		return err
	}
	if x.opts.Whiteouts == OverlayWhiteouts {
		return unix.Mknod(target, unix.S_IFCHR, 0)
	}
	return nil
}

// finish empties opaque directories of what older layers put there, then
// sets directory times (children changed them while extracting).
func (x *extractor) finish() error {
	for _, dir := range x.opaque {
		host, err := securejoin.SecureJoin(x.root, dir)
		if err != nil {
			return err
		}
		err = filepath.WalkDir(host, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if p == host {
				return nil
			}
			if x.created[path.Join(dir, filepath.ToSlash(p[len(host)+1:]))] {
				return nil
			}
			switch x.protection(p) {
			case Protected:
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			case ContainsProtected:
				return nil // look inside
			}
			if err := os.RemoveAll(p); err != nil {
				return err
			}
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	// Deepest first so a parent's time is set after its children's.
	sort.SliceStable(x.dirs, func(i, j int) bool { return len(x.dirs[i].path) > len(x.dirs[j].path) })
	return x.setDirTimes()
}

// setDirTimes sets the directories' times through a handle of the root:
// each parent is resolved inside the root (never following a symlink out
// of it) and the directory itself is not followed, so a layer that replaced
// a parent with a symlink to a host directory cannot change that
// directory's times.
func (x *extractor) setDirTimes() error {
	if len(x.dirs) == 0 {
		return nil
	}
	root, err := os.OpenFile(x.root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, d := range x.dirs {
		ts := []unix.Timespec{unix.NsecToTimespec(d.mtime.UnixNano()), unix.NsecToTimespec(d.mtime.UnixNano())}
		if d.path == "" || d.path == "." {
			if err := unix.UtimesNanoAt(unix.AT_FDCWD, x.root, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return err
			}
			continue
		}
		parent, err := pathrs.OpenatInRoot(root, path.Dir(d.path))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
				continue // removed or replaced by a later entry
			}
			return err
		}
		err = unix.UtimesNanoAt(int(parent.Fd()), path.Base(d.path), ts, unix.AT_SYMLINK_NOFOLLOW)
		parent.Close()
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.ENOTSUP) {
			return err
		}
	}
	return nil
}

// within reports whether p is root or below it, lexically.
func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// UnmappedOwnerError reports an owner that the user namespace the process
// runs in cannot represent (rootless isolation with only the user's own ids
// mapped).
type UnmappedOwnerError struct{ UID, GID int }

func (e *UnmappedOwnerError) Error() string {
	return fmt.Sprintf("owner %d:%d is not mapped in skiff's user namespace, which holds only your own ids "+
		"(give your user a range: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $USER)", e.UID, e.GID)
}

// Lchown is os.Lchown that reports an owner the process's user namespace
// has no mapping for as *UnmappedOwnerError.
func Lchown(path string, uid, gid int) error {
	err := os.Lchown(path, uid, gid)
	var pe *os.PathError
	if errors.As(err, &pe) && errors.Is(pe.Err, unix.EINVAL) {
		return &UnmappedOwnerError{UID: uid, GID: gid}
	}
	return err
}

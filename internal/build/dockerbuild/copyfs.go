package dockerbuild

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"

	"github.com/skiff-dev/skiff/internal/oci"
)

// copier writes items into a destination root filesystem with Docker's
// COPY semantics. Every destination path is resolved inside the root, and
// below the resolved destination nothing is followed: an existing symlink
// where a file goes is replaced, never written through.
type copier struct {
	root       string
	chown      *[2]int // nil: keep the source's owner (or root:root for the context)
	resetOwner bool    // the build context: files belong to root
	chmod      *uint32
	xattrs     bool
	// devices creates device nodes found in the source (COPY --from);
	// without it they are skipped (the user allows them with --allow
	// device).
	devices bool
	links   map[[2]uint64]string
	// protect, when set, is asked about each destination path (container
	// mode copies into / and leaves the container's own files alone, as
	// extraction does): nothing is written at or below a Protected path,
	// and a directory that ContainsProtected paths is merged with, never
	// replaced by a file.
	protect func(hostPath string) oci.Protection
}

// protection is protect's answer for host path p.
func (c *copier) protection(p string) oci.Protection {
	if c.protect == nil {
		return oci.Unprotected
	}
	return c.protect(p)
}

func (c *copier) owner(fi fs.FileInfo) (int, int) {
	if c.chown != nil {
		return c.chown[0], c.chown[1]
	}
	if c.resetOwner {
		return 0, 0
	}
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}

// mkdirAll creates dir (absolute, inside the root) and missing parents with
// mode 0755 and the copy's owner, following symlinks inside the root.
func (c *copier) mkdirAll(dir string) (string, error) {
	cur := "/"
	for _, part := range splitPath(dir) {
		cur = path.Join(cur, part)
		host, err := securejoin.SecureJoin(c.root, cur)
		if err != nil {
			return "", err
		}
		fi, err := os.Lstat(host)
		if err == nil {
			if !fi.IsDir() {
				return "", fmt.Errorf("cannot create directory %s: a file is in the way", cur)
			}
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		if err := os.Mkdir(host, 0o755); err != nil {
			return "", err
		}
		uid, gid := 0, 0
		if c.chown != nil {
			uid, gid = c.chown[0], c.chown[1]
		}
		if err := oci.Lchown(host, uid, gid); err != nil {
			return "", err
		}
	}
	return securejoin.SecureJoin(c.root, dir)
}

// copyItem copies one matched source to dest (absolute, inside the root).
// destIsDir says the destination ended with "/" or there are several
// sources.
func (c *copier) copyItem(it item, dest string, destIsDir bool) error {
	if it.isDir {
		dst, err := c.mkdirAll(dest)
		if err != nil {
			return err
		}
		return c.copyTree(it.entries, dst)
	}
	target := dest
	if destIsDir {
		target = path.Join(dest, path.Base("/"+it.name))
		if _, err := c.mkdirAll(dest); err != nil {
			return err
		}
	} else if host, err := securejoin.SecureJoin(c.root, dest); err == nil {
		if fi, err := os.Stat(host); err == nil && fi.IsDir() {
			target = path.Join(dest, path.Base("/"+it.name))
		}
	}
	parent, err := c.mkdirAll(path.Dir(target))
	if err != nil {
		return err
	}
	return c.copyEntry(it.entries[0], filepath.Join(parent, path.Base(target)), false)
}

// copyTree copies a directory's contents into dst, which exists; dst keeps
// its own metadata, as Docker copies a directory's contents, not the
// directory.
func (c *copier) copyTree(entries []entry, dst string) error {
	var dirs []entry
	for _, e := range entries[1:] {
		target := filepath.Join(dst, filepath.FromSlash(e.rel))
		if err := c.copyEntry(e, target, true); err != nil {
			return err
		}
		if e.fi.IsDir() {
			dirs = append(dirs, e)
		}
	}
	// Directory times last: filling them changed them.
	for i := len(dirs) - 1; i >= 0; i-- {
		t := dirs[i].fi.ModTime()
		target := filepath.Join(dst, filepath.FromSlash(dirs[i].rel))
		if c.protection(target) == oci.Protected {
			continue
		}
		if err := lutimes(target, t); err != nil {
			return err
		}
	}
	return nil
}

// copyEntry creates target from e. Parents exist; target's own parent was
// checked not to be a symlink (it was created or Lstat-ed by the walk).
func (c *copier) copyEntry(e entry, target string, inTree bool) error {
	fi := e.fi
	if p := c.protection(target); p == oci.Protected || (p == oci.ContainsProtected && !fi.IsDir()) {
		return nil // the container's own: skipped, as extraction skips it
	}
	existing, err := os.Lstat(target)
	switch {
	case err == nil && fi.IsDir():
		if !existing.IsDir() {
			return fmt.Errorf("cannot copy directory %s over a non-directory", e.rel)
		}
		return c.metadata(target, e, false)
	case err == nil && existing.IsDir():
		return fmt.Errorf("cannot replace directory %s with a file", strings.TrimPrefix(target, c.root))
	case err == nil:
		if err := os.Remove(target); err != nil {
			return err
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	st := fi.Sys().(*syscall.Stat_t)
	switch fi.Mode() & fs.ModeType {
	case fs.ModeDir:
		if err := os.Mkdir(target, 0o700); err != nil {
			return err
		}
		return c.metadata(target, e, false)
	case 0:
		if st.Nlink > 1 && inTree {
			key := [2]uint64{st.Dev, st.Ino}
			if first, ok := c.links[key]; ok {
				return os.Link(first, target)
			}
			c.links[key] = target
		}
		if err := copyFile(e.host, target); err != nil {
			return err
		}
		return c.metadata(target, e, true)
	case fs.ModeSymlink:
		link, err := os.Readlink(e.host)
		if err != nil {
			return err
		}
		if err := os.Symlink(link, target); err != nil {
			return err
		}
		uid, gid := c.owner(fi)
		if err := oci.Lchown(target, uid, gid); err != nil {
			return err
		}
		return lutimes(target, fi.ModTime())
	case fs.ModeNamedPipe, fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice:
		if c.resetOwner {
			return nil // the context carries no special files
		}
		if fi.Mode()&fs.ModeDevice != 0 && !c.devices {
			return nil
		}
		if err := unix.Mknod(target, st.Mode, int(st.Rdev)); err != nil {
			return err
		}
		return c.metadata(target, e, true)
	}
	return nil // sockets
}

// metadata applies owner, mode, xattrs and times. Directory times are set
// again by copyTree once their contents are in place.
func (c *copier) metadata(target string, e entry, times bool) error {
	fi := e.fi
	uid, gid := c.owner(fi)
	if err := oci.Lchown(target, uid, gid); err != nil {
		return err
	}
	st := fi.Sys().(*syscall.Stat_t)
	mode := st.Mode & 0o7777
	if c.chmod != nil {
		mode = *c.chmod
	}
	if err := unix.Fchmodat(unix.AT_FDCWD, target, mode, 0); err != nil {
		return err
	}
	if c.xattrs {
		if err := copyXattrs(e.host, target); err != nil {
			return err
		}
	}
	if times || fi.IsDir() {
		return lutimes(target, fi.ModTime())
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.OpenFile(src, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// copyXattrs copies extended attributes such as file capabilities, but not
// overlayfs bookkeeping or SELinux labels.
func copyXattrs(src, dst string) error {
	sz, err := unix.Llistxattr(src, nil)
	if err != nil || sz == 0 {
		return nil
	}
	buf := make([]byte, sz)
	if sz, err = unix.Llistxattr(src, buf); err != nil {
		return nil
	}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:sz]), "\x00"), "\x00") {
		if name == "" || strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.") || name == "security.selinux" || strings.HasPrefix(name, "system.") {
			continue
		}
		val := make([]byte, 4096)
		n, err := unix.Lgetxattr(src, name, val)
		if err != nil {
			continue
		}
		if err := unix.Lsetxattr(dst, name, val[:n], 0); err != nil && !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("copying xattr %s: %w", name, err)
		}
	}
	return nil
}

func lutimes(p string, t time.Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(t.UnixNano()), unix.NsecToTimespec(t.UnixNano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
}

package inplace

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"

	"github.com/skiff-dev/skiff/internal/build/sandbox"
)

// standIns are the files put in place of RUN --mount mounts, undone in
// reverse order after the command.
type standIns struct {
	undo []func() error
}

func (s *standIns) push(f func() error) { s.undo = append(s.undo, f) }

// remove undoes every stand-in, last first.
func (s *standIns) remove() error {
	var errs []error
	for i := len(s.undo) - 1; i >= 0; i-- {
		errs = append(errs, s.undo[i]())
	}
	s.undo = nil
	return errors.Join(errs...)
}

// put makes m's files appear at its target: what is there is moved aside
// (renamed within its directory, so nothing is copied), missing parents
// are created, and the source is moved in (renamed when it is on the same
// file system, which also keeps a cache directory's changes) or copied in
// (and, for a writable mount, copied back afterwards). The times of the
// directories touched are put back, so the layer does not record them.
func (s *standIns) put(root string, m sandbox.Mount) error {
	target, err := securejoin.SecureJoin(root, m.Target)
	if err != nil {
		return err
	}
	if target == root {
		return errors.New("cannot mount over /")
	}
	if err := s.parents(root, target); err != nil {
		return err
	}
	parent := filepath.Dir(target)
	s.keepTimes(parent)
	if _, err := os.Lstat(target); err == nil {
		aside := filepath.Join(parent, fmt.Sprintf(".skiff-aside-%d-%s", time.Now().UnixNano(), filepath.Base(target)))
		if err := os.Rename(target, aside); err != nil {
			return fmt.Errorf("moving %s aside: %w", m.Target, err)
		}
		s.push(func() error { return os.Rename(aside, target) })
	}
	switch m.Type {
	case "tmpfs":
		if err := os.Mkdir(target, 0o1777); err != nil {
			return err
		}
		if err := os.Chmod(target, 0o1777); err != nil {
			return err
		}
		s.push(func() error { return os.RemoveAll(target) })
		return nil
	case "bind", "":
	default:
		return fmt.Errorf("unknown mount type %q", m.Type)
	}
	if err := os.Rename(m.Source, target); err == nil {
		s.push(func() error { return os.Rename(target, m.Source) })
		return nil
	} else if !errors.Is(err, unix.EXDEV) {
		return fmt.Errorf("moving %s in: %w", m.Source, err)
	}
	if err := copyTree(m.Source, target); err != nil {
		return err
	}
	s.push(func() error {
		var err error
		if !m.ReadOnly {
			err = syncBack(target, m.Source)
		}
		return errors.Join(err, os.RemoveAll(target))
	})
	return nil
}

// parents creates the missing parents of target, to be removed again if
// they are still empty.
func (s *standIns) parents(root, target string) error {
	var missing []string
	for d := filepath.Dir(target); len(d) > len(root); d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		d := missing[i]
		s.keepTimes(filepath.Dir(d))
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
		s.push(func() error {
			if err := os.Remove(d); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.ENOTEMPTY) && !errors.Is(err, unix.EEXIST) {
				return err
			}
			return nil
		})
	}
	return nil
}

// keepTimes puts dir's times back when the stand-ins are removed.
func (s *standIns) keepTimes(dir string) {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return
	}
	s.push(func() error {
		ts := []unix.Timespec{st.Atim, st.Mtim}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, dir, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
}

// copyTree copies src (a file or a directory tree) to dst with modes,
// owners and times.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		switch {
		case fi.IsDir():
			if err := os.Mkdir(to, fi.Mode().Perm()); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(l, to); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			if err := copyFile(p, to, fi.Mode().Perm()); err != nil {
				return err
			}
		default:
			return nil // devices, sockets and pipes do not belong in mounts
		}
		if err := os.Lchown(to, int(st.Uid), int(st.Gid)); err != nil && !errors.Is(err, fs.ErrPermission) {
			return err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			if err := os.Chmod(to, fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
				return err
			}
		}
		return nil
	})
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY|unix.O_NOFOLLOW, perm)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

// syncBack replaces src with what the command left at target (a writable
// mount on another file system: a cache directory keeps its changes).
func syncBack(target, src string) error {
	tmp := src + ".skiff-sync"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := copyTree(target, tmp); err != nil {
		return err
	}
	if err := os.RemoveAll(src); err != nil {
		return err
	}
	return os.Rename(tmp, src)
}

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
// Everything is undone through handles of the directories opened before
// the command ran, so a command that replaces a directory with a symlink
// cannot send the clean-up elsewhere.
func (s *standIns) put(root string, m sandbox.Mount) error {
	target, err := securejoin.SecureJoin(root, m.Target)
	if err != nil {
		return err
	}
	if target == root {
		return errors.New("cannot mount over /")
	}
	dir, err := s.parents(root, filepath.Dir(target))
	if err != nil {
		return err
	}
	base := filepath.Base(target)
	s.keepTimes(dir)
	if _, err := dir.Lstat(base); err == nil {
		aside := fmt.Sprintf(".skiff-aside-%d-%s", time.Now().UnixNano(), base)
		if err := dir.Rename(base, aside); err != nil {
			return fmt.Errorf("moving %s aside: %w", m.Target, err)
		}
		s.push(func() error { return dir.Rename(aside, base) })
	}
	switch m.Type {
	case "tmpfs":
		if err := dir.Mkdir(base, 0o777); err != nil {
			return err
		}
		if err := dir.Chmod(base, 0o777|fs.ModeSticky); err != nil {
			return err
		}
		s.push(func() error { return dir.RemoveAll(base) })
		return nil
	case "bind", "":
	default:
		return fmt.Errorf("unknown mount type %q", m.Type)
	}
	fd, err := dir.Open(".")
	if err != nil {
		return err
	}
	s.push(fd.Close)
	dfd := int(fd.Fd())
	if err := unix.Renameat(unix.AT_FDCWD, m.Source, dfd, base); err == nil {
		s.push(func() error { return unix.Renameat(dfd, base, unix.AT_FDCWD, m.Source) })
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
			// Read what the command left through the handle, never
			// through a path it could have redirected.
			err = syncBack(fmt.Sprintf("/proc/self/fd/%d/%s", dfd, base), m.Source)
		}
		return errors.Join(err, dir.RemoveAll(base))
	})
	return nil
}

// parents opens the directory dir inside root, creating what is missing;
// the created directories are removed again if they are still empty.
func (s *standIns) parents(root, dir string) (*os.Root, error) {
	var missing []string
	have := dir
	for ; len(have) > len(root); have = filepath.Dir(have) {
		if _, err := os.Lstat(have); err == nil {
			break
		}
		missing = append(missing, filepath.Base(have))
	}
	r, err := os.OpenRoot(have)
	if err != nil {
		return nil, err
	}
	s.push(r.Close)
	for i := len(missing) - 1; i >= 0; i-- {
		name := missing[i]
		s.keepTimes(r)
		if err := r.Mkdir(name, 0o755); err != nil {
			return nil, err
		}
		parent := r
		s.push(func() error {
			if err := parent.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.ENOTEMPTY) && !errors.Is(err, unix.EEXIST) {
				return err
			}
			return nil
		})
		if r, err = parent.OpenRoot(name); err != nil {
			return nil, err
		}
		s.push(r.Close)
	}
	return r, nil
}

// keepTimes puts the times of the directory r back when the stand-ins are
// removed.
func (s *standIns) keepTimes(r *os.Root) {
	fi, err := r.Lstat(".")
	if err != nil {
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	atime, mtime := time.Unix(st.Atim.Unix()), time.Unix(st.Mtim.Unix())
	s.push(func() error {
		if err := r.Chtimes(".", atime, mtime); err != nil && !errors.Is(err, fs.ErrNotExist) {
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

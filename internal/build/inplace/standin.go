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
//
// Everything is undone through handles of the directories opened before
// the command ran, so a command that replaces a directory with a symlink
// cannot send the clean-up elsewhere. What a mount shows goes away
// wherever the command moved it (a mount moves with its directory), and
// what was at the target before comes back there; a mount point skiff
// had to create is removed only while it is still at the target: one the
// command moved with its parent stays there empty, as a mount point stub
// does in root isolation and in BuildKit (their clean-up goes by the
// original path). Whatever the command put in a stand-in's place is its
// change and stays.
func (s *standIns) put(root string, m sandbox.Mount) error {
	target, err := securejoin.SecureJoin(root, m.Target)
	if err != nil {
		return err
	}
	if target == root {
		return errors.New("cannot mount over /")
	}
	rel, err := filepath.Rel(root, filepath.Dir(target))
	if err != nil {
		return err
	}
	dir, err := s.parents(root, filepath.Dir(target))
	if err != nil {
		return err
	}
	base := filepath.Base(target)
	s.keepTimes(dir)
	_, err = dir.Lstat(base)
	pre := err == nil
	if pre {
		aside := fmt.Sprintf(".skiff-aside-%d-%s", time.Now().UnixNano(), base)
		if err := dir.Rename(base, aside); err != nil {
			return fmt.Errorf("moving %s aside: %w", m.Target, err)
		}
		s.push(func() error { return dir.Rename(aside, base) })
	}
	// here reports whether the stand-in made below is still base in dir,
	// and dir still at rel under root.
	var id fileID
	here := func() bool { return id.valid() && entryAt(root, rel, dir, base) == id }
	switch m.Type {
	case "tmpfs":
		if err := dir.Mkdir(base, 0o777); err != nil {
			return err
		}
		if err := dir.Chmod(base, 0o777|fs.ModeSticky); err != nil {
			return err
		}
		id = idOf(dir, base)
		s.push(func() error { return s.undoStandIn(dir, base, id, pre || here()) })
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
		id = idOf(dir, base)
		s.push(func() error {
			// Only the source itself goes back; a command that moved it
			// kept it in the image, and whatever took its name stays.
			if idOf(dir, base) != id {
				return nil
			}
			return unix.Renameat(dfd, base, unix.AT_FDCWD, m.Source)
		})
		return nil
	} else if !errors.Is(err, unix.EXDEV) {
		return fmt.Errorf("moving %s in: %w", m.Source, err)
	}
	if err := copyTree(m.Source, target); err != nil {
		return err
	}
	id = idOf(dir, base)
	s.push(func() error {
		if idOf(dir, base) != id {
			return nil // replaced by the command: its change
		}
		var err error
		if !m.ReadOnly {
			// Read what the command left through the handle, never
			// through a path it could have redirected.
			err = syncBack(fmt.Sprintf("/proc/self/fd/%d/%s", dfd, base), m.Source)
		}
		return errors.Join(err, s.undoStandIn(dir, base, id, pre || here()))
	})
	return nil
}

// undoStandIn removes the stand-in base of dir (identified by id): whole
// when remove is set, else only its contents, leaving an empty mount point
// stub (a directory 0755 or an empty file) where the command moved it.
// A stand-in the command replaced is left alone.
func (s *standIns) undoStandIn(dir *os.Root, base string, id fileID, remove bool) error {
	if idOf(dir, base) != id {
		return nil
	}
	if remove {
		return dir.RemoveAll(base)
	}
	fi, err := dir.Lstat(base)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		f, err := dir.OpenFile(base, os.O_WRONLY|os.O_TRUNC|unix.O_NOFOLLOW, 0)
		if err != nil {
			return err
		}
		return f.Close()
	}
	sub, err := dir.OpenRoot(base)
	if err != nil {
		return err
	}
	defer sub.Close()
	ents, err := fs.ReadDir(sub.FS(), ".")
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := sub.RemoveAll(e.Name()); err != nil {
			return err
		}
	}
	return dir.Chmod(base, 0o755)
}

// fileID identifies a file: its device and inode.
type fileID struct{ dev, ino uint64 }

func (f fileID) valid() bool { return f.ino != 0 }

// idOf is the fileID of name in dir, not following a symlink; zero when
// there is none.
func idOf(dir *os.Root, name string) fileID {
	fi, err := dir.Lstat(name)
	if err != nil {
		return fileID{}
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fileID{uint64(st.Dev), st.Ino}
}

// entryAt is the fileID of name in dir if dir is still the directory at
// rel under root, reached without following a symlink (zero otherwise).
func entryAt(root, rel string, dir *os.Root, name string) fileID {
	fd, err := unix.Openat2(unix.AT_FDCWD, filepath.Join(root, rel), &unix.OpenHow{
		Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_SYMLINKS})
	if err != nil {
		return fileID{}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || idOf(dir, ".") != (fileID{uint64(st.Dev), st.Ino}) {
		return fileID{}
	}
	return idOf(dir, name)
}

// parents opens the directory dir inside root, creating what is missing;
// the created directories are removed again if they are still empty and
// where they were made.
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
	at := have
	for i := len(missing) - 1; i >= 0; i-- {
		name := missing[i]
		s.keepTimes(r)
		if err := r.Mkdir(name, 0o755); err != nil {
			return nil, err
		}
		parent, id := r, idOf(r, name)
		rel, err := filepath.Rel(root, at)
		if err != nil {
			return nil, err
		}
		s.push(func() error {
			if entryAt(root, rel, parent, name) != id {
				return nil // moved or replaced by the command: its change
			}
			if err := parent.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.ENOTEMPTY) && !errors.Is(err, unix.EEXIST) {
				return err
			}
			return nil
		})
		if r, err = parent.OpenRoot(name); err != nil {
			return nil, err
		}
		s.push(r.Close)
		at = filepath.Join(at, name)
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

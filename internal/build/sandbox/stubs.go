package sandbox

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// stubs are mount points created in the root filesystem for the sandbox's
// mounts; they are removed afterwards so that they do not end up in the
// step's layer (unless the command put something in them).
//
// The command runs between creating and removing them and may have
// replaced any directory on the way with a symlink, so they are remembered
// as paths inside the root and removed through a handle of the root
// directory: every lookup is resolved inside it (openat2 RESOLVE_IN_ROOT,
// or securejoin's checked emulation) and the last component is never
// followed, so cleanup can only ever touch the root filesystem.
type stubs struct {
	root    string
	created []string // paths inside the root, parents first
	times   map[string]time.Time
}

// mountPoints lists the mount targets the child needs and whether each is a
// directory.
func mountPoints(spec Spec) [][2]any {
	pts := [][2]any{{"/proc", true}, {"/dev", true}, {"/etc/hosts", false}, {"/etc/resolv.conf", false}}
	for _, m := range spec.Mounts {
		if strings.HasPrefix(m.Target, "/dev/") {
			continue // inside the sandbox's /dev tmpfs; the child makes these
		}
		isDir := true
		if m.Type == "bind" {
			if fi, err := os.Stat(m.Source); err == nil && !fi.IsDir() {
				isDir = false
			}
		}
		pts = append(pts, [2]any{m.Target, isDir})
	}
	return pts
}

func makeStubs(spec Spec) (*stubs, error) {
	s := &stubs{root: spec.Root, times: map[string]time.Time{}}
	for _, pt := range mountPoints(spec) {
		if err := s.ensure(pt[0].(string), pt[1].(bool)); err != nil {
			s.remove()
			return nil, err
		}
	}
	return s, nil
}

// ensure creates target (and missing parents) unless it exists. Nothing
// runs in the root while it does, so the resolved host path is safe to use.
func (s *stubs) ensure(target string, isDir bool) error {
	p, err := securejoin.SecureJoin(s.root, target)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(p); err == nil {
		return nil
	}
	rel := func(host string) string {
		r, _ := filepath.Rel(s.root, host)
		return filepath.ToSlash(r)
	}
	// Create missing parents one by one so each can be removed again.
	var missing []string
	for q := filepath.Dir(p); len(q) > len(s.root); q = filepath.Dir(q) {
		if _, err := os.Lstat(q); err == nil {
			break
		}
		missing = append(missing, q)
	}
	top := filepath.Dir(p)
	if len(missing) > 0 {
		top = filepath.Dir(missing[len(missing)-1])
	}
	if fi, err := os.Lstat(top); err == nil {
		if _, seen := s.times[rel(top)]; !seen {
			s.times[rel(top)] = fi.ModTime()
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil {
			return err
		}
		s.created = append(s.created, rel(missing[i]))
	}
	if isDir {
		err = os.Mkdir(p, 0o755)
	} else {
		var f *os.File
		if f, err = os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); err == nil {
			err = f.Close()
		}
	}
	if err != nil {
		return err
	}
	s.created = append(s.created, rel(p))
	return nil
}

// remove deletes the stubs that are still empty and restores the times of
// the directories they were created in, all inside the root.
func (s *stubs) remove() {
	root, err := os.OpenFile(s.root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer root.Close()
	for i := len(s.created) - 1; i >= 0; i-- {
		_ = atInRoot(root, s.created[i], func(dirfd int, base string) error {
			var st unix.Stat_t
			if err := unix.Fstatat(dirfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return err
			}
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFDIR:
				return unix.Unlinkat(dirfd, base, unix.AT_REMOVEDIR) // fails when not empty: the command wrote there, keep it
			case unix.S_IFREG:
				if st.Size == 0 {
					return unix.Unlinkat(dirfd, base, 0)
				}
			}
			return nil // replaced by something else: it is the command's now
		})
	}
	for dir, t := range s.times {
		ts := []unix.Timespec{unix.NsecToTimespec(t.UnixNano()), unix.NsecToTimespec(t.UnixNano())}
		if dir == "." {
			_ = unix.UtimesNanoAt(unix.AT_FDCWD, s.root, ts, unix.AT_SYMLINK_NOFOLLOW)
			continue
		}
		_ = atInRoot(root, dir, func(dirfd int, base string) error {
			return unix.UtimesNanoAt(dirfd, base, ts, unix.AT_SYMLINK_NOFOLLOW)
		})
	}
}

// atInRoot calls fn with a handle of rel's parent directory, resolved inside
// root, and rel's last component, which fn must not follow.
func atInRoot(root *os.File, rel string, fn func(dirfd int, base string) error) error {
	rel = path.Clean("/" + rel)
	if rel == "/" {
		return errors.New("the root itself")
	}
	dir, err := pathrs.OpenatInRoot(root, path.Dir(rel))
	if err != nil {
		return err
	}
	defer dir.Close()
	return fn(int(dir.Fd()), path.Base(rel))
}

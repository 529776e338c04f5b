package sandbox

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
)

// stubs are mount points created in the root filesystem for the sandbox's
// mounts; they are removed afterwards so that they do not end up in the
// step's layer (unless the command put something in them).
type stubs struct {
	created []string // host paths, parents first
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
	s := &stubs{times: map[string]time.Time{}}
	for _, pt := range mountPoints(spec) {
		if err := s.ensure(spec.Root, pt[0].(string), pt[1].(bool)); err != nil {
			s.remove()
			return nil, err
		}
	}
	return s, nil
}

func (s *stubs) ensure(root, target string, isDir bool) error {
	p, err := securejoin.SecureJoin(root, target)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(p); err == nil {
		return nil
	}
	// Create missing parents one by one so each can be removed again.
	var missing []string
	for q := filepath.Dir(p); len(q) > len(root); q = filepath.Dir(q) {
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
		if _, seen := s.times[top]; !seen {
			s.times[top] = fi.ModTime()
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil {
			return err
		}
		s.created = append(s.created, missing[i])
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
	s.created = append(s.created, p)
	return nil
}

// remove deletes the stubs that are still empty and restores the times of
// the directories they were created in.
func (s *stubs) remove() {
	for i := len(s.created) - 1; i >= 0; i-- {
		p := s.created[i]
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		if fi.Mode().IsRegular() && fi.Size() != 0 {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			continue // not empty: the command wrote there, keep it
		}
	}
	for dir, t := range s.times {
		_ = os.Chtimes(dir, t, t)
	}
}

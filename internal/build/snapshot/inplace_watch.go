package snapshot

import (
	"bytes"
	"errors"
	"path"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// watcher tells which directories of a tree a step changed, with inotify,
// so that the snapshot lists only those instead of walking the whole tree.
// Events are queued by the kernel as the changes happen, so when a step's
// processes are gone, all of its events are there to read.
type watcher struct {
	fd      int
	dirs    map[int32]string // watch descriptor → directory ("" is the root)
	watched map[string]bool
}

// watchMask is everything that changes an entry of a directory or the
// metadata or content of a file in it (IN_CLOSE_WRITE also catches writes
// through a shared mapping, which send no IN_MODIFY).
const watchMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_CLOSE_WRITE |
	unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF |
	unix.IN_DONT_FOLLOW | unix.IN_ONLYDIR | unix.IN_EXCL_UNLINK

// watchTree watches every directory of state; nil when inotify is not
// available or has too few watches left (the snapshot then walks).
func watchTree(dir string, state map[string]fileState) *watcher {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil
	}
	w := &watcher{fd: fd, dirs: map[int32]string{}, watched: map[string]bool{}}
	if !w.add(dir, "") {
		w.close()
		return nil
	}
	for p, st := range state {
		if st.isDir && !w.add(dir, p) {
			w.close()
			return nil
		}
	}
	return w
}

func (w *watcher) add(dir, rel string) bool {
	wd, err := unix.InotifyAddWatch(w.fd, filepath.Join(dir, rel), watchMask)
	if err != nil {
		return false
	}
	w.dirs[int32(wd)] = rel
	w.watched[rel] = true
	return true
}

func (w *watcher) close() {
	if w != nil && w.fd >= 0 {
		_ = unix.Close(w.fd)
		w.fd = -1
	}
}

// errUntrusted means the events cannot tell what changed (the queue
// overflowed, a directory moved); the snapshot walks the tree.
var errUntrusted = errors.New("inotify events incomplete")

// changes returns the directories whose entries changed since the last
// call, and the directories moved into place (overlayfs makes a directory
// renamed by a step opaque). err is errUntrusted when the directories
// cannot be told from the events; moved is still right unless the queue
// overflowed (then it is nil).
func (w *watcher) changes() (dirty, moved map[string]bool, err error) {
	dirty, moved = map[string]bool{}, map[string]bool{}
	buf := make([]byte, 64*1024)
	for {
		n, rerr := unix.Read(w.fd, buf)
		if errors.Is(rerr, unix.EAGAIN) || (rerr == nil && n <= 0) {
			return dirty, moved, err
		}
		if rerr != nil {
			return nil, nil, rerr
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := ""
			if ev.Len > 0 {
				raw := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
				if i := bytes.IndexByte(raw, 0); i >= 0 {
					raw = raw[:i]
				}
				name = string(raw)
			}
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
				return nil, nil, errUntrusted
			}
			dir, ok := w.dirs[ev.Wd]
			if !ok {
				continue // a watch removed earlier in this batch
			}
			isDir := ev.Mask&unix.IN_ISDIR != 0
			switch {
			case ev.Mask&unix.IN_IGNORED != 0:
				delete(w.dirs, ev.Wd)
				delete(w.watched, dir)
			case ev.Mask&unix.IN_MOVE_SELF != 0, isDir && ev.Mask&unix.IN_MOVED_FROM != 0:
				// The watches below a moved directory name old paths.
				err = errUntrusted
			case name == "":
				// The directory itself: its entry is in its parent.
				if dir != "" {
					dirty[parentDir(dir)] = true
				}
			default:
				if isDir && ev.Mask&unix.IN_MOVED_TO != 0 {
					moved[path.Join(dir, name)] = true
				}
				dirty[dir] = true
			}
		}
	}
}

// parentDir is path.Dir with "" for the root.
func parentDir(p string) string {
	if d := path.Dir(p); d != "." {
		return d
	}
	return ""
}

// update brings t.state up to date by listing only the dirty directories
// (and every directory that appeared, in full), and returns the paths that
// may have changed with their old states.
func (t *Tree) update(dirty map[string]bool) (map[string]fileState, []string, error) {
	before := map[string]fileState{}
	var cands []string
	seen := map[string]bool{}
	mark := func(p string) {
		if seen[p] {
			return
		}
		seen[p] = true
		cands = append(cands, p)
		if st, ok := t.state[p]; ok {
			before[p] = st
		}
	}
	// forget drops what was below p from the state.
	var forget func(p string)
	forget = func(p string) {
		for n := range t.kids[p] {
			c := path.Join(p, n)
			mark(c)
			forget(c)
			delete(t.state, c)
		}
		delete(t.kids, p)
	}
	for dir := range dirty {
		if dir != "" {
			if st, ok := t.state[dir]; !ok || !st.isDir {
				continue // gone or replaced: its parent's listing says so
			}
			// Changing its entries changed the directory's own times.
			host := filepath.Join(t.dir, dir)
			var st unix.Stat_t
			if err := unix.Lstat(host, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
				continue
			}
			mark(dir)
			ns := stateOf(&st, t.protect.entry(host))
			ns.birth = birthAt(unix.AT_FDCWD, host)
			if !sameDir(ns, t.state[dir]) {
				continue // replaced: its parent's listing says so
			}
			t.state[dir] = ns
		}
		listed := map[string]fileState{}
		kids := map[string]map[string]bool{}
		err := scanDir(filepath.Join(t.dir, dir), dir, t.protect, listed, kids, false)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		old := t.kids[dir]
		for n := range old {
			p := path.Join(dir, n)
			if _, ok := listed[p]; !ok {
				mark(p)
				forget(p)
				delete(t.state, p)
			}
		}
		for p, st := range listed {
			mark(p)
			prev, had := t.state[p]
			t.state[p] = st
			if !st.isDir {
				if had && prev.isDir {
					forget(p)
				}
				continue
			}
			if had && prev.isDir && sameDir(prev, st) {
				continue // its own events say what changed in it
			}
			// A directory that appeared (or replaced another): list it all.
			forget(p)
			sub := map[string]fileState{}
			if err := scanDir(filepath.Join(t.dir, p), p, t.protect, sub, t.kids, true); err != nil {
				return nil, nil, err
			}
			for q, s := range sub {
				mark(q)
				t.state[q] = s
			}
		}
		t.kids[dir] = kids[dir]
	}
	return before, cands, nil
}

// afterStep finds what the step changed: from the watcher's events when
// they can be trusted, else by walking the whole tree. It updates t.state
// and returns the old states of the paths that may have changed, and the
// directories the step moved (nil without events).
func (t *Tree) afterStep() (before map[string]fileState, cands []string, moved map[string]bool, err error) {
	if t.watch != nil {
		dirty, mv, werr := t.watch.changes()
		moved = mv
		if werr == nil {
			before, cands, err = t.update(dirty)
			if err != nil {
				return nil, nil, nil, err
			}
			for _, p := range cands {
				if st, ok := t.state[p]; ok && st.isDir && !t.watch.watched[p] && !t.watch.add(t.dir, p) {
					t.watch.close()
					t.watch = nil // out of watches: walk from now on
					break
				}
			}
			return before, cands, moved, nil
		}
	}
	kids := map[string]map[string]bool{}
	after, err := scanTree(t.dir, t.protect, kids)
	if err != nil {
		return nil, nil, nil, err
	}
	before = t.state
	t.state, t.kids = after, kids
	t.rewatch()
	return before, allPaths(before, after), moved, nil
}

// rewatch watches the tree afresh after a full walk.
func (t *Tree) rewatch() {
	t.watch.close()
	t.watch = nil
	if !t.noWatch {
		t.watch = watchTree(t.dir, t.state)
	}
}

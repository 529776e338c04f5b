package snapshot

import (
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/skiff-dev/skiff/internal/oci"
)

// scanTree records the metadata of every entry below root that is not
// protected: one fstatat per entry, no file content read. kids, when not
// nil, gets the names in each directory ("" is root).
func scanTree(root string, prot *Protected, kids map[string]map[string]bool) (map[string]fileState, error) {
	out := make(map[string]fileState, 4096)
	if err := scanDir(root, "", prot, out, kids, true); err != nil {
		return nil, fmt.Errorf("scanning %s: %w", root, err)
	}
	return out, nil
}

// scanDir records the entries of one directory (and, with recurse, of
// every directory below it) in out and kids.
func scanDir(host, rel string, prot *Protected, out map[string]fileState, kids map[string]map[string]bool, recurse bool) error {
	fd, err := unix.Open(host, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: host, Err: err}
	}
	f := os.NewFile(uintptr(fd), host)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return err
	}
	prefix := host + "/"
	if host == "/" {
		prefix = "/"
	}
	var here map[string]bool
	if kids != nil {
		here = make(map[string]bool, len(names))
		kids[rel] = here
	}
	var buf [4096]byte
	for _, n := range names {
		h := prefix + n
		p := prot.entry(h)
		if p == oci.Protected {
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if err == unix.ENOENT {
				continue // gone while scanning
			}
			return &os.PathError{Op: "lstat", Path: h, Err: err}
		}
		r := n
		if rel != "" {
			r = rel + "/" + n
		}
		s := stateOf(&st, p)
		if s.isDir {
			s.birth = birthAt(fd, n)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			k, err := unix.Readlinkat(fd, n, buf[:])
			if err != nil {
				return &os.PathError{Op: "readlink", Path: h, Err: err}
			}
			s.link = string(buf[:k])
		}
		out[r] = s
		if here != nil {
			here[n] = true
		}
		if s.isDir && recurse {
			if err := scanDir(h, r, prot, out, kids, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// sameDir reports whether two states of a directory are the same
// directory: the same inode, made at the same time.
func sameDir(a, b fileState) bool { return a.ino == b.ino && a.birth == b.birth }

// birthAt is the creation time of name in the directory dirfd (AT_FDCWD:
// name is a path) in nanoseconds, 0 when the file system does not record
// one. On overlayfs it is always 0: a directory copied up to the upper
// layer when first changed reports the upper directory's birth, and would
// look replaced.
func birthAt(dirfd int, name string) int64 {
	var fs unix.Statfs_t
	var err error
	if dirfd == unix.AT_FDCWD {
		err = unix.Statfs(name, &fs)
	} else {
		err = unix.Fstatfs(dirfd, &fs)
	}
	if err != nil || fs.Type == unix.OVERLAYFS_SUPER_MAGIC {
		return 0
	}
	var stx unix.Statx_t
	if err := unix.Statx(dirfd, name, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BTIME, &stx); err != nil || stx.Mask&unix.STATX_BTIME == 0 {
		return 0
	}
	return stx.Btime.Sec*1e9 + int64(stx.Btime.Nsec)
}

func stateOf(st *unix.Stat_t, p oci.Protection) fileState {
	return fileState{
		mode: st.Mode, uid: st.Uid, gid: st.Gid, size: st.Size, ino: int64(st.Ino),
		mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(), isDir: st.Mode&unix.S_IFMT == unix.S_IFDIR, nlink: uint32(st.Nlink),
		holdsProtected: p == oci.ContainsProtected,
	}
}

// sameFile reports whether an entry is unchanged as far as a layer is
// concerned. A directory's ctime moves whenever an entry is added or
// removed, which its mtime shows as well; a file's ctime moves on any
// write or metadata change, which no program can set back.
func sameFile(a, b fileState) bool {
	if a.isDir != b.isDir || a.mode != b.mode || a.uid != b.uid || a.gid != b.gid || a.mtime != b.mtime {
		return false
	}
	if a.isDir {
		return sameDir(a, b) || a.holdsProtected
	}
	if a.size != b.size || a.ino != b.ino || a.link != b.link {
		return false
	}
	// Removing another name of a hardlinked file moves its ctime and
	// nothing else; overlayfs records nothing for that either.
	return a.ctime == b.ctime || b.nlink < a.nlink
}

// emission is one tar entry of a layer: a file (or directory), a
// whiteout of a deleted name, or the opaque marker of a directory.
type emission struct {
	key  string // sort key: the order a depth-first walk of sorted names gives
	name string
	kind emitKind
}

type emitKind int

const (
	emitEntry emitKind = iota
	emitWhiteout
	emitOpaque
)

func tarKey(name string) string { return strings.ReplaceAll(name, "/", "\x00") }

// diffStates lists what a layer must hold for the change from before to
// after, exactly as an overlayfs upper directory would record it: every
// changed entry with all its parent directories, a whiteout per deleted
// name whose parent survived, and an opaque directory for a directory that
// replaced an entry of the same name (a new directory where a lower layer
// deleted the name is not opaque, as in overlayfs) or that was moved
// (renamed) into place. cands are the paths that may have changed (every
// path of both, after a full walk); before must hold each of them that
// existed, after the whole new tree.
func diffStates(before, after map[string]fileState, cands []string, moved map[string]bool) []emission {
	out := map[string]emission{}
	opaque := map[string]bool{}
	entry := func(p string) {
		for d := p; d != "."; d = path.Dir(d) {
			if _, ok := out[d]; ok {
				break
			}
			out[d] = emission{key: tarKey(d), name: d, kind: emitEntry}
		}
	}
	for _, p := range cands {
		st, ok := after[p]
		if !ok {
			continue
		}
		old, ok := before[p]
		switch {
		case st.isDir && moved[p]:
			opaque[p] = true
		case !ok:
		case sameFile(old, st):
			continue
		case st.isDir && (!old.isDir || (!sameDir(old, st) && !st.holdsProtected)):
			opaque[p] = true
		}
		entry(p)
	}
	underOpaque := func(p string) bool {
		for d := p; d != "."; d = path.Dir(d) {
			if opaque[d] {
				return true
			}
		}
		return false
	}
	// An opaque directory hides everything below it in lower layers, so
	// its whole tree is recorded (a subtree moved back in may look
	// unchanged) and nothing below it needs a whiteout.
	if len(opaque) > 0 {
		for d := range opaque {
			out[d+"/"+oci.WhiteoutOpaque] = emission{key: tarKey(d) + "\x00", name: d, kind: emitOpaque}
		}
		for _, p := range cands {
			if _, ok := after[p]; ok && underOpaque(p) {
				entry(p)
			}
		}
	}
	for _, p := range cands {
		if _, ok := after[p]; ok {
			continue
		}
		if _, ok := before[p]; !ok {
			continue
		}
		parent := path.Dir(p)
		if parent != "." {
			if st, ok := after[parent]; !ok || !st.isDir || underOpaque(parent) {
				continue
			}
		}
		out[".wh:"+p] = emission{key: tarKey(p), name: p, kind: emitWhiteout}
		if parent != "." {
			entry(parent)
		}
	}
	list := make([]emission, 0, len(out))
	for _, e := range out {
		list = append(list, e)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].key < list[j].key })
	return list
}

// allPaths lists the paths of two states, each once.
func allPaths(a, b map[string]fileState) []string {
	out := make([]string, 0, len(b)+len(b)/16)
	for p := range b {
		out = append(out, p)
	}
	for p := range a {
		if _, ok := b[p]; !ok {
			out = append(out, p)
		}
	}
	return out
}

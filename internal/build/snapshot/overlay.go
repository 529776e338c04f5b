package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// Kind selects a Snapshotter implementation.
type Kind string

const (
	// Auto uses overlayfs when the store's filesystem and kernel allow it.
	Auto Kind = ""
	// Overlay requires overlayfs.
	Overlay Kind = "overlay"
	// Walk compares directory trees; it works everywhere but costs time in
	// proportion to the size of the filesystem.
	Walk Kind = "walk"
)

// New returns an empty Snapshotter of the given kind backed by the store.
func (s *Store) New(kind Kind, opts Options) (Snapshotter, error) {
	switch kind {
	case Walk:
		return &walker{store: s, opts: opts}, nil
	case Overlay:
		if err := s.OverlaySupported(); err != nil {
			return nil, err
		}
		return &overlay{store: s, opts: opts}, nil
	case Auto:
		if s.OverlaySupported() == nil {
			return &overlay{store: s, opts: opts}, nil
		}
		return &walker{store: s, opts: opts}, nil
	}
	return nil, fmt.Errorf("unknown snapshotter %q (want overlay or walk)", kind)
}

// stackItem is a layer of a stack, extracted (dir set) or not yet.
type stackItem struct {
	layer Layer
	dir   string
}

type overlay struct {
	store *Store
	opts  Options
	stack []stackItem // bottom first
}

func (o *overlay) Append(l Layer) { o.stack = append(o.stack, stackItem{layer: l}) }

func (o *overlay) Close() error { return nil }

// lowers extracts what is not yet extracted (in parallel) and returns the
// directories top first, as overlayfs wants them.
func (o *overlay) lowers(ctx context.Context) ([]string, error) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.NumCPU())
	for i := range o.stack {
		if o.stack[i].dir != "" {
			continue
		}
		g.Go(func() error {
			dir, err := o.store.dir(gctx, o.stack[i].layer, o.opts.Devices)
			o.stack[i].dir = dir
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	// A layer can occur twice (two steps with the same diff); overlayfs
	// refuses overlapping lower directories. Keeping only the topmost
	// occurrence shows the same files, since it covers every path of the
	// lower one.
	out := make([]string, 0, len(o.stack)+1)
	seen := map[string]bool{}
	for i := len(o.stack) - 1; i >= 0; i-- {
		if d := o.stack[i].dir; !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out, nil
}

func (o *overlay) Change(ctx context.Context, fn func(root string) error, w io.Writer) (Diff, error) {
	lowers, err := o.lowers(ctx)
	if err != nil {
		return Diff{}, err
	}
	tmp, err := o.store.TempDir("step")
	if err != nil {
		return Diff{}, err
	}
	defer removeAll(tmp)
	upper, work, merged, empty := filepath.Join(tmp, "upper"), filepath.Join(tmp, "work"), filepath.Join(tmp, "merged"), filepath.Join(tmp, "empty")
	for _, d := range []string{upper, work, merged, empty} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return Diff{}, err
		}
	}
	if len(lowers) == 0 {
		lowers = []string{empty}
	}
	if err := mountOverlay(lowers, upper, work, merged, o.opts.Devices); err != nil {
		return Diff{}, err
	}
	mounted := true
	defer func() { // even if fn panics, never leave the mount behind
		if mounted {
			_ = unix.Unmount(merged, unix.MNT_DETACH)
		}
	}()
	fnErr := fn(merged)
	err = unix.Unmount(merged, 0)
	if err != nil {
		err = unix.Unmount(merged, unix.MNT_DETACH)
	}
	mounted = err != nil
	if fnErr != nil {
		return Diff{}, fnErr
	}
	if err != nil {
		return Diff{}, fmt.Errorf("unmounting step filesystem: %w", err)
	}
	lw := newLayerWriter(w, o.opts)
	if err := writeUpper(lw, upper, "", lowers); err != nil {
		return Diff{}, err
	}
	diff, err := lw.close()
	if err != nil || diff.Entries == 0 {
		return diff, err
	}
	if err := o.store.adopt(diff.DiffID, upper, o.opts.Devices); err != nil {
		return Diff{}, err
	}
	o.stack = append(o.stack, stackItem{dir: o.store.layerDir(diff.DiffID, o.opts.Devices)})
	return diff, nil
}

func (o *overlay) View(ctx context.Context, fn func(root string) error) error {
	lowers, err := o.lowers(ctx)
	if err != nil {
		return err
	}
	tmp, err := o.store.TempDir("view")
	if err != nil {
		return err
	}
	defer removeAll(tmp)
	merged, empty := filepath.Join(tmp, "merged"), filepath.Join(tmp, "empty")
	for _, d := range []string{merged, empty} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	// A read-only overlay needs two lower directories.
	if err := mountOverlay(append(lowers, empty), "", "", merged, o.opts.Devices); err != nil {
		return err
	}
	defer func() {
		if err := unix.Unmount(merged, 0); err != nil {
			_ = unix.Unmount(merged, unix.MNT_DETACH)
		}
	}()
	return fn(merged)
}

// writeUpper tars an overlayfs upper directory in sorted order, turning
// whiteout devices into .wh. files and opaque directories into
// .wh..wh..opq entries, and removes overlayfs bookkeeping xattrs so the
// directory can serve as a lower layer later.
func writeUpper(lw *layerWriter, dir, rel string, lowers []string) error {
	names, err := sortedNames(dir)
	if err != nil {
		return err
	}
	for _, n := range names {
		host := filepath.Join(dir, n)
		name := path.Join(rel, n)
		fi, err := os.Lstat(host)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0 {
			if err := lw.whiteout(name, fi.ModTime()); err != nil {
				return err
			}
			continue
		}
		opaque := false
		if fi.IsDir() {
			v, err := getXattr(host, opaqueXattr())
			opaque = err == nil && v == "y"
		}
		stripOverlayXattrs(host)
		if fi.IsDir() && !opaque && unchangedCopyUp(host, name, fi, lowers) {
			continue
		}
		if err := lw.add(host, name, fi); err != nil {
			return err
		}
		if !fi.IsDir() {
			continue
		}
		if opaque {
			if err := lw.opaque(name, fi.ModTime()); err != nil {
				return err
			}
		}
		if err := writeUpper(lw, host, name, lowers); err != nil {
			return err
		}
	}
	return nil
}

// unchangedCopyUp reports whether an empty directory in the upper
// directory is only a copy of the same directory below: overlayfs copies a
// directory up when something is created in it, and if that something was
// removed again (a mount point the sandbox needed) nothing changed.
func unchangedCopyUp(host, name string, fi os.FileInfo, lowers []string) bool {
	f, err := os.Open(host)
	if err != nil {
		return false
	}
	names, _ := f.Readdirnames(1)
	f.Close()
	if len(names) > 0 {
		return false
	}
	low, ok := lowerEntry(lowers, name)
	if !ok {
		return false
	}
	a, b := fi.Sys().(*syscall.Stat_t), low.Sys().(*syscall.Stat_t)
	if a.Mode != b.Mode || a.Uid != b.Uid || a.Gid != b.Gid || a.Mtim != b.Mtim {
		return false
	}
	xa, err1 := readXattrs(host)
	xb, err2 := readXattrs(filepath.Join(lowerRoot(lowers, name), name))
	return err1 == nil && err2 == nil && fmt.Sprint(xa) == fmt.Sprint(xb)
}

// lowerEntry finds the directory name in the lower layers (top first) the
// way overlayfs would, giving up (false) at whiteouts and opaque parents.
func lowerEntry(lowers []string, name string) (os.FileInfo, bool) {
	if d := lowerRoot(lowers, name); d != "" {
		fi, err := os.Lstat(filepath.Join(d, name))
		return fi, err == nil && fi.IsDir()
	}
	return nil, false
}

func lowerRoot(lowers []string, name string) string {
	for _, l := range lowers {
		fi, err := os.Lstat(filepath.Join(l, name))
		if err == nil {
			if isWhiteout(fi) || !fi.IsDir() {
				return ""
			}
			return l
		}
		for p := path.Dir(name); p != "." && p != "/"; p = path.Dir(p) {
			pfi, err := os.Lstat(filepath.Join(l, p))
			if err != nil {
				continue
			}
			if isWhiteout(pfi) || !pfi.IsDir() {
				return ""
			}
			if v, err := getXattr(filepath.Join(l, p), opaqueXattr()); err == nil && v == "y" {
				return ""
			}
		}
	}
	return ""
}

func isWhiteout(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

func stripOverlayXattrs(p string) {
	sz, err := unix.Llistxattr(p, nil)
	if err != nil || sz == 0 {
		return
	}
	buf := make([]byte, sz)
	if sz, err = unix.Llistxattr(p, buf); err != nil {
		return
	}
	for _, name := range strings.Split(string(buf[:sz]), "\x00") {
		if isOverlayXattr(name) && name != opaqueXattr() {
			_ = unix.Lremovexattr(p, name)
		}
	}
}

// mountOverlay mounts lowers (top first) with an optional upper directory at
// target, nosuid, and nodev unless devices. It uses the fsconfig API, which
// has no limit on the number of layers, and falls back to mount(2) on
// kernels without "lowerdir+". In a user namespace it uses user.overlay.*
// xattrs (userxattr), the only ones it may set there.
func mountOverlay(lowers []string, upper, work, target string, devices bool) error {
	err := errNoFsconfig
	if !legacyMountOnly {
		err = mountOverlayFsconfig(lowers, upper, work, target, devices)
	}
	if err == nil || !errors.Is(err, errNoFsconfig) {
		return err
	}
	opts := []string{"lowerdir=" + strings.Join(lowers, ":")}
	if upper != "" {
		opts = append(opts, "upperdir="+upper, "workdir="+work)
	}
	opts = append(opts, "redirect_dir="+redirectDir(), "index=off", "metacopy=off")
	if userNamespaced() {
		opts = append(opts, "userxattr")
	}
	data := strings.Join(opts, ",")
	if len(data) >= os.Getpagesize() {
		return fmt.Errorf("mounting overlay: %d layers are too many for this kernel's mount options", len(lowers))
	}
	flags := uintptr(unix.MS_NOSUID)
	if !devices {
		flags |= unix.MS_NODEV
	}
	if err := unix.Mount("overlay", target, "overlay", flags, data); err != nil {
		return fmt.Errorf("mounting overlay: %w", err)
	}
	return nil
}

// redirectDir is the redirect_dir option: redirects are never created.
// With userxattr (in a user namespace) the kernel refuses "off", which
// there means following redirects, so it is "nofollow".
func redirectDir() string {
	if userNamespaced() {
		return "nofollow"
	}
	return "off"
}

var errNoFsconfig = errors.New("fsconfig lowerdir+ unsupported")

// legacyMountOnly makes tests exercise the mount(2) path of older kernels.
var legacyMountOnly = false

func mountOverlayFsconfig(lowers []string, upper, work, target string, devices bool) error {
	fd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return errNoFsconfig
	}
	defer unix.Close(fd)
	for i, l := range lowers {
		if err := unix.FsconfigSetString(fd, "lowerdir+", l); err != nil {
			if i == 0 && errors.Is(err, unix.EINVAL) {
				return errNoFsconfig
			}
			return fmt.Errorf("mounting overlay: lower %s: %w", l, err)
		}
	}
	set := [][2]string{{"redirect_dir", redirectDir()}, {"index", "off"}, {"metacopy", "off"}}
	if upper != "" {
		set = append([][2]string{{"upperdir", upper}, {"workdir", work}}, set...)
	}
	for _, kv := range set {
		if err := unix.FsconfigSetString(fd, kv[0], kv[1]); err != nil {
			return fmt.Errorf("mounting overlay: %s=%s: %w", kv[0], kv[1], err)
		}
	}
	if userNamespaced() {
		if err := unix.FsconfigSetFlag(fd, "userxattr"); err != nil {
			return fmt.Errorf("mounting overlay: userxattr: %w", err)
		}
	}
	if err := unix.FsconfigCreate(fd); err != nil {
		return fmt.Errorf("mounting overlay: %w", err)
	}
	attr := unix.MOUNT_ATTR_NOSUID
	if !devices {
		attr |= unix.MOUNT_ATTR_NODEV
	}
	mfd, err := unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, attr)
	if err != nil {
		return fmt.Errorf("mounting overlay: %w", err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("mounting overlay at %s: %w", target, err)
	}
	return nil
}

// OverlaySupported reports (once) whether overlayfs works for the store:
// the kernel has it, the process may mount, and the store's filesystem
// can hold upper directories and whiteouts.
func (s *Store) OverlaySupported() error {
	s.probeOnce.Do(func() { s.probeErr = s.probe() })
	return s.probeErr
}

func (s *Store) probe() error {
	tmp, err := s.TempDir("probe")
	if err != nil {
		return err
	}
	defer removeAll(tmp)
	dirs := map[string]string{}
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		dirs[d] = filepath.Join(tmp, d)
		if err := os.Mkdir(dirs[d], 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dirs["lower"], "f"), nil, 0o644); err != nil {
		return err
	}
	if err := mountOverlay([]string{dirs["lower"]}, dirs["upper"], dirs["work"], dirs["merged"], false); err != nil {
		return fmt.Errorf("overlayfs unavailable: %w", err)
	}
	rmErr := os.Remove(filepath.Join(dirs["merged"], "f"))
	if err := unix.Unmount(dirs["merged"], 0); err != nil {
		_ = unix.Unmount(dirs["merged"], unix.MNT_DETACH)
	}
	if rmErr != nil {
		return fmt.Errorf("overlayfs unusable: %w", rmErr)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(dirs["upper"], "f"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
		return errors.New("overlayfs did not record a whiteout in the upper directory")
	}
	return nil
}

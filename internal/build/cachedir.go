package build

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/skiff-dev/skiff/internal/build/sandbox"
)

// DefaultCacheDir is ${XDG_CACHE_HOME:-~/.cache}/skiff/build. Without
// either variable it is an error: a predictable fallback such as
// /tmp/skiff-build-cache could be created first by another local user.
func DefaultCacheDir() (string, error) {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "skiff", "build"), nil
	}
	if home := os.Getenv("HOME"); home != "" {
		return filepath.Join(home, ".cache", "skiff", "build"), nil
	}
	return "", errors.New("no cache directory: neither XDG_CACHE_HOME nor HOME is set; pass --cache-dir")
}

// PrivateDir makes dir the builder's private cache directory: it is
// created mode 0700 when missing, and an existing one must be a directory
// owned by the user, which is then made 0700. Each directory above it must
// belong to the user or to root and, if others may write to it, have the
// sticky bit: otherwise another user could swap the cache for one they
// filled (a poisoned layer store) or reach setuid files left in it.
func PrivateDir(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	uid := uint32(os.Geteuid())
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating cache directory: %w", err)
	}
	st, err := ownerOf(dir)
	if err != nil {
		return err
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		return fmt.Errorf("cache directory %s is not a directory", dir)
	}
	if st.Uid != uid {
		return fmt.Errorf("cache directory %s belongs to uid %d, not to you (uid %d); remove it or pass --cache-dir", dir, st.Uid, uid)
	}
	if st.Mode&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("making cache directory %s private: %w", dir, err)
		}
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		st, err := ownerOf(p)
		if err != nil {
			return err
		}
		// In skiff's user namespace the host's root and every other user
		// show as the overflow uid, so ownership cannot be told apart
		// there; the process that entered the namespace checked the same
		// directory with PrivateDir before (skiff's commands do).
		if st.Uid != uid && st.Uid != 0 && !(sandbox.Rootless() && st.Uid == overflowUID()) {
			return fmt.Errorf("cache directory %s is inside %s, which belongs to uid %d; use a directory of your own (--cache-dir)", dir, p, st.Uid)
		}
		if st.Mode&0o022 != 0 && st.Mode&syscall.S_ISVTX == 0 {
			return fmt.Errorf("cache directory %s is inside %s, which others may write to; use a directory of your own (--cache-dir)", dir, p)
		}
		if p == "/" || p == "." {
			return nil
		}
	}
}

// ownerOf stats p, following symlinks (a symlinked ~/.cache is fine: what
// counts is the directory it leads to).
func ownerOf(p string) (*syscall.Stat_t, error) {
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("cache directory: %w", err)
		}
		return nil, err
	}
	return fi.Sys().(*syscall.Stat_t), nil
}

// overflowUID is the uid unmapped owners show as in a user namespace.
func overflowUID() uint32 {
	b, err := os.ReadFile("/proc/sys/kernel/overflowuid")
	if err != nil {
		return 65534
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
	if err != nil {
		return 65534
	}
	return uint32(n)
}

// CacheDir is the cache directory a build with --cache-dir dir uses: dir,
// or DefaultCacheDir when it is empty.
func CacheDir(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	return DefaultCacheDir()
}

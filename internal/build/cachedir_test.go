package build

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/testenv"
)

func TestDefaultCacheDirHasNoSharedFallback(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	if d, err := DefaultCacheDir(); err == nil || !strings.Contains(err.Error(), "--cache-dir") {
		t.Fatalf("DefaultCacheDir() = %q, %v; want an error, never a /tmp fallback", d, err)
	}
	t.Setenv("HOME", "/home/u")
	if d, _ := DefaultCacheDir(); d != "/home/u/.cache/skiff/build" {
		t.Errorf("DefaultCacheDir() = %q", d)
	}
	t.Setenv("XDG_CACHE_HOME", "/x")
	if d, _ := DefaultCacheDir(); d != "/x/skiff/build" {
		t.Errorf("DefaultCacheDir() = %q", d)
	}
}

func TestPrivateDir(t *testing.T) {
	base := t.TempDir()
	fresh := filepath.Join(base, "a", "b")
	if err := PrivateDir(fresh); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(fresh); fi.Mode().Perm() != 0o700 {
		t.Errorf("new cache dir mode %v, want 0700", fi.Mode().Perm())
	}
	loose := filepath.Join(base, "loose")
	os.Mkdir(loose, 0o755)
	if err := PrivateDir(loose); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(loose); fi.Mode().Perm() != 0o700 {
		t.Errorf("existing cache dir mode %v, want it made 0700", fi.Mode().Perm())
	}
	shared := filepath.Join(base, "shared")
	os.Mkdir(shared, 0o777)
	os.Chmod(shared, 0o777)
	if err := PrivateDir(filepath.Join(shared, "cache")); err == nil || !strings.Contains(err.Error(), "others may write") {
		t.Errorf("cache in a world-writable directory: err = %v", err)
	}
	sticky := filepath.Join(base, "sticky")
	os.Mkdir(sticky, 0o777)
	os.Chmod(sticky, os.ModeSticky|0o777)
	if err := PrivateDir(filepath.Join(sticky, "cache")); err != nil {
		t.Errorf("cache in a sticky directory (like /tmp): %v", err)
	}
}

func TestPrivateDirOwnedByAnother(t *testing.T) {
	testenv.RequireRoot(t, "making a directory owned by another user")
	base := t.TempDir()
	planted := filepath.Join(base, "planted")
	os.Mkdir(planted, 0o777)
	if err := os.Chown(planted, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	if err := PrivateDir(planted); err == nil || !strings.Contains(err.Error(), "belongs to uid 4242") {
		t.Errorf("pre-created cache dir: err = %v", err)
	}
	if err := PrivateDir(filepath.Join(planted, "inner")); err == nil || !strings.Contains(err.Error(), "which belongs to uid 4242") {
		t.Errorf("cache inside another user's dir: err = %v", err)
	}
}

package inplace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-dev/skiff/internal/build/sandbox"
	"github.com/skiff-dev/skiff/internal/testenv"
)

// busyboxRoot makes a root filesystem with a static busybox.
func busyboxRoot(t *testing.T) string {
	t.Helper()
	testenv.RequireRoot(t, "chroot and changing credentials")
	bb := testenv.RequireCommand(t, "busybox")
	root := t.TempDir()
	for _, d := range []string{"bin", "etc", "tmp", "var/cache/apt"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(root, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, applet := range strings.Fields(string(out)) {
		_ = os.Symlink("busybox", filepath.Join(root, "bin", applet))
	}
	if err := os.WriteFile(filepath.Join(root, "var/cache/apt/pkgcache"), []byte("image's"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func run(t *testing.T, spec Spec) (string, error) {
	t.Helper()
	var out bytes.Buffer
	spec.Stdout, spec.Stderr = &out, &out
	if spec.Env == nil {
		spec.Env = []string{"PATH=/bin"}
	}
	err := Run(context.Background(), spec)
	return out.String(), err
}

// Spec is sandbox.Spec: the executor takes what the namespaced one takes.
type Spec = sandbox.Spec

func TestRunAsUserInDir(t *testing.T) {
	root := busyboxRoot(t)
	out, err := run(t, Spec{Root: root, Dir: "/work/dir", User: sandbox.User{UID: 1000, GID: 1000, Groups: []uint32{1000, 2000}},
		Env:  []string{"PATH=/bin", "FOO=bar"},
		Args: []string{"sh", "-c", `echo "$FOO"; id -u; id -G; pwd; touch /tmp/made`}})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if want := "bar\n1000\n1000 2000\n/work/dir\n"; out != want {
		t.Errorf("output %q, want %q", out, want)
	}
	if _, err := os.Stat(filepath.Join(root, "tmp/made")); err != nil {
		t.Fatalf("the command's file is not in the root: %v", err)
	}
}

func TestRunExitAndErrors(t *testing.T) {
	root := busyboxRoot(t)
	_, err := run(t, Spec{Root: root, Args: []string{"sh", "-c", "exit 3"}})
	var ee *sandbox.ExitError
	if !errors.As(err, &ee) || ee.Code != 3 {
		t.Errorf("err = %v, want exit code 3", err)
	}
	if _, err := run(t, Spec{Root: root, Args: []string{"no-such-command"}}); err == nil || !strings.Contains(err.Error(), "no-such-command: command not found") {
		t.Errorf("err = %v", err)
	}
	if _, err := run(t, Spec{Root: root, Network: sandbox.NetworkNone, Args: []string{"true"}}); !errors.Is(err, ErrNoNetworkNamespace) {
		t.Errorf("--network=none: err = %v", err)
	}
}

// TestRunKillsLeftovers checks that a background process the command left
// is gone when Run returns, so it cannot change files during the snapshot.
func TestRunKillsLeftovers(t *testing.T) {
	root := busyboxRoot(t)
	out, err := run(t, Spec{Root: root, Args: []string{"sh", "-c", "(sleep 2; touch /tmp/late) >/dev/null 2>&1 </dev/null & echo started"}})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	time.Sleep(2500 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(root, "tmp/late")); err == nil {
		t.Error("a process left behind by RUN kept running")
	}
}

func TestRunCancel(t *testing.T) {
	root := busyboxRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := Run(ctx, Spec{Root: root, Env: []string{"PATH=/bin"}, Args: []string{"sh", "-c", "sleep 60 & sleep 60"}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}

// TestRunMounts stands in for secret, cache, tmpfs and bind mounts: the
// command sees their files, the cache keeps what it wrote, and afterwards
// the root is as it was (the image's own files at a cache target back,
// stand-in directories gone, directory times unchanged).
func TestRunMounts(t *testing.T) {
	root := busyboxRoot(t)
	src := t.TempDir()
	secret := filepath.Join(src, "token")
	cache := filepath.Join(src, "cache")
	ctxDir := filepath.Join(src, "ctx")
	for _, d := range []string{cache, ctxDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(secret, []byte("s3cret"), 0o400)
	os.WriteFile(filepath.Join(cache, "old"), []byte("warm"), 0o644)
	os.WriteFile(filepath.Join(ctxDir, "main.go"), []byte("package main"), 0o644)
	varTime := mtime(t, filepath.Join(root, "var/cache"))
	rootTime := mtime(t, root)
	out, err := run(t, Spec{Root: root, Mounts: []sandbox.Mount{
		{Type: "bind", Source: secret, Target: "/run/secrets/token", ReadOnly: true},
		{Type: "bind", Source: cache, Target: "/var/cache/apt"},
		{Type: "tmpfs", Target: "/scratch"},
		{Type: "bind", Source: ctxDir, Target: "/src", ReadOnly: true},
	}, Args: []string{"sh", "-c", "cat /run/secrets/token; echo; cat /var/cache/apt/old; ls /var/cache/apt; echo new > /var/cache/apt/new; cat /src/main.go; echo; touch /scratch/t"}})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if want := "s3cret\nwarmold\npackage main\n"; out != want {
		t.Errorf("output %q, want %q", out, want)
	}
	if b, _ := os.ReadFile(filepath.Join(cache, "new")); string(b) != "new\n" {
		t.Errorf("the cache did not keep the command's file: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "var/cache/apt/pkgcache")); string(b) != "image's" {
		t.Errorf("the image's files at the cache target were not put back: %q", b)
	}
	for _, p := range []string{"run", "scratch", "src", "var/cache/apt/new"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			t.Errorf("stand-in %s left in the root", p)
		}
	}
	if b, _ := os.ReadFile(secret); string(b) != "s3cret" {
		t.Errorf("secret source changed: %q", b)
	}
	if got := mtime(t, filepath.Join(root, "var/cache")); !got.Equal(varTime) {
		t.Errorf("/var/cache time changed: %v -> %v", varTime, got)
	}
	if got := mtime(t, root); !got.Equal(rootTime) {
		t.Errorf("/ time changed: %v -> %v", rootTime, got)
	}
}

func mtime(t *testing.T, p string) time.Time {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.ModTime()
}

// TestDetect checks Detect against the namespace links' names, read
// another way. make test runs on the machine itself, where skiff must not
// take itself for a container whatever marker files (/.dockerenv) it has.
func TestDetect(t *testing.T) {
	pid, err1 := os.Readlink("/proc/self/ns/pid")
	user, err2 := os.Readlink("/proc/self/ns/user")
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	onHost := pid == "pid:[4026531836]" && user == "user:[4026531837]"
	err := Detect()
	switch {
	case onHost && !errors.Is(err, ErrNotInContainer):
		t.Errorf("on the machine's own namespaces Detect() = %v, want ErrNotInContainer", err)
	case !onHost && err != nil:
		t.Errorf("in %s %s Detect() = %v, want nil", pid, user, err)
	}
}

func TestUnescapeMountPath(t *testing.T) {
	for in, want := range map[string]string{`/a\040b`: "/a b", `/plain`: "/plain", `/tab\011x`: "/tab\tx", `/end\04`: `/end\04`} {
		if got := unescapeMountPath(in); got != want {
			t.Errorf("%q -> %q, want %q", in, got, want)
		}
	}
}

// TestRunMountCleanupStaysInside is finding 1 of issue 10 in container
// mode: the command replaces the directory of a mount target with a
// symlink to a directory outside; the stand-in's removal must not follow
// it (the files there stay). A target the image had comes back where the
// command moved its parent; a mount point skiff created stays there as an
// empty stub, as in root isolation, and the command's symlink stays.
func TestRunMountCleanupStaysInside(t *testing.T) {
	for _, pre := range []bool{true, false} {
		t.Run(fmt.Sprintf("target-in-image=%v", pre), func(t *testing.T) {
			root := busyboxRoot(t)
			outside := t.TempDir()
			for _, f := range []string{"victim.sock", "aside"} {
				if err := os.WriteFile(filepath.Join(outside, f), []byte("keep"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if pre {
				if err := os.MkdirAll(filepath.Join(root, "x/victim.sock"), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			script := "echo tmp > /x/victim.sock/f && mv /x /y && ln -s " + outside + " /x"
			out, err := run(t, Spec{Root: root, Mounts: []sandbox.Mount{{Type: "tmpfs", Target: "/x/victim.sock"}},
				Args: []string{"sh", "-c", script}})
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			for _, f := range []string{"victim.sock", "aside"} {
				if b, err := os.ReadFile(filepath.Join(outside, f)); err != nil || string(b) != "keep" {
					t.Errorf("%s outside the root: %q %v", f, b, err)
				}
			}
			want := fs.FileMode(0o755) // the stub
			if pre {
				want = 0o700 // the image's own directory
			}
			if fi, err := os.Stat(filepath.Join(root, "y/victim.sock")); err != nil || !fi.IsDir() || fi.Mode().Perm() != want {
				t.Errorf("y/victim.sock: %v %v, want a directory %v", fi, err, want)
			}
			if ents, _ := os.ReadDir(filepath.Join(root, "y")); len(ents) != 1 {
				t.Errorf("stand-in left in /y: %v", ents)
			}
			if ents, _ := os.ReadDir(filepath.Join(root, "y/victim.sock")); len(ents) != 0 {
				t.Errorf("the tmpfs's files stayed: %v", ents)
			}
			if l, err := os.Readlink(filepath.Join(root, "x")); err != nil || l != outside {
				t.Errorf("the command's symlink /x: %q %v", l, err)
			}
		})
	}
}

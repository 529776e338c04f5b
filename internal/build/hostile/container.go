package hostile

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/build/inplace/ctrtest"
)

// ContainerBuild returns a Mode.Build that runs `skiff build` inside a
// fresh unprivileged container of the ctrtest harness (containerd's
// default capabilities and seccomp profile, no_new_privs), where skiff
// detects container isolation by itself. The container's root holds only
// skiff's binary at /skiff/skiff and the project at /workspace/hostile, as
// a CI pod of skiff's image holds them. In container isolation RUN runs in
// the container's own root, so the host's sentinel tree is not even
// visible to it; what the build must leave alone is what belongs to the
// container: skiff's binary, the workspace (but for the artifacts file it
// writes) and the runtime's mounts. Build fails the test when any of them
// changed. Test binaries that use it call ctrtest.Init first in TestMain.
func ContainerBuild() func(ctx context.Context, t *testing.T, dir, repo string) Outcome {
	return func(ctx context.Context, t *testing.T, dir, repo string) Outcome {
		t.Helper()
		rootfs := t.TempDir()
		bin := filepath.Join(rootfs, "skiff", "skiff")
		ws := filepath.Join(rootfs, "workspace", "hostile")
		if err := copyFile(Skiff(t), bin); err != nil {
			t.Fatal(err)
		}
		if err := copyDir(dir, ws); err != nil {
			t.Fatal(err)
		}
		binBefore, wsBefore := fileDigest(t, bin), workspaceTree(t, ws)
		hostsBefore, _ := os.ReadFile("/etc/hosts")

		var tail tailBuffer
		var rss int64
		err := ctrtest.Run(ctx, ctrtest.Config{Rootfs: rootfs, Dir: "/workspace/hostile",
			Args:   []string{"/skiff/skiff", "build", "--file-output", "/workspace/hostile/artifacts.json", "-d", repo},
			Env:    []string{"HOME=/root", "PATH=/usr/bin:/bin"},
			Stdout: &tail, Stderr: &tail, MaxRSS: &rss})
		o := Outcome{Err: err, Output: tail.String(), MaxRSS: rss}

		if fileDigest(t, bin) != binBefore {
			t.Errorf("the build changed skiff's own binary in the container")
		}
		if after := workspaceTree(t, ws); after != wsBefore {
			t.Errorf("the build changed the workspace:\nbefore:\n%s\nafter:\n%s", wsBefore, after)
		}
		if b, _ := os.ReadFile("/etc/hosts"); string(b) != string(hostsBefore) {
			t.Errorf("the build changed the runtime's /etc/hosts: %q", b)
		}
		return o.finish(err, filepath.Join(ws, "artifacts.json"))
	}
}

// workspaceTree lists the workspace like treeOf, leaving out the artifacts
// file the build writes and the workspace directory's own entry (whose
// times that write changes).
func workspaceTree(t *testing.T, ws string) string {
	t.Helper()
	var keep []string
	for _, l := range strings.Split(treeOf(t, ws), "\n") {
		if strings.HasPrefix(l, ". ") || strings.HasPrefix(l, "artifacts.json ") {
			continue
		}
		keep = append(keep, l)
	}
	sort.Strings(keep)
	return strings.Join(keep, "\n")
}

func fileDigest(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// copyDir copies the tree at src to dst: directories, regular files with
// their modes, and symlinks as links.
func copyDir(src, dst string) error {
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case fi.IsDir():
			return os.MkdirAll(target, fi.Mode().Perm())
		case fi.Mode()&os.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		default:
			return copyFile(p, target)
		}
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

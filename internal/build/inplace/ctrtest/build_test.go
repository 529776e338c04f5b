package ctrtest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/skiff-dev/skiff/internal/testenv"
)

var skiffBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "skiff-ctrtest-bin-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "skiff")
	cmd := exec.Command("go", "build", "-o", out, "github.com/skiff-dev/skiff")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // static, as skiff ships
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, b)
	}
	return out, nil
})

// buildSkiff builds the skiff binary once per test binary.
func buildSkiff(t *testing.T) string {
	t.Helper()
	p, err := skiffBinary()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// project is a build context the tests build both ways.
type project struct {
	name, dir string
	args      []string // skiff build flags besides the common ones
}

func projects(t *testing.T) []project {
	root, err := filepath.Abs("../../../..")
	if err != nil {
		t.Fatal(err)
	}
	return []project{
		{name: "myapp", dir: filepath.Join(root, "examples/myapp")},
		{name: "runapp", dir: "testdata/runapp"},
	}
}

// containerRootfs is the minimal root filesystem of the build container:
// the skiff binary and the build contexts, nothing else.
func containerRootfs(t *testing.T, skiff string, ps []project) string {
	t.Helper()
	root := t.TempDir()
	if err := copyTree(skiff, filepath.Join(root, "skiff/skiff")); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if err := copyTree(p.dir, filepath.Join(root, "workspace", p.name)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestSkiffBuildInContainer builds the example project and a RUN-heavy
// multi-stage project with skiff inside the unprivileged container
// (container isolation, detected, not asked for) and as root on this
// machine (root isolation), pushing both to the sandbox registry, and
// compares the images: digests (--reproducible), configs, and every file
// of the flattened filesystems.
func TestSkiffBuildInContainer(t *testing.T) {
	testenv.RequireRoot(t, "the harness creates namespaces and mounts")
	env := testenv.Require(t)
	skiff := buildSkiff(t)
	ctx := context.Background()
	for _, p := range projects(t) {
		t.Run(p.name, func(t *testing.T) {
			// A fresh container per build, as a CI job gets: container
			// mode leaves the last stage's files in its root.
			rootfs := containerRootfs(t, skiff, []project{p})
			repo := env.Repo(t, "ctr-"+p.name)
			common := []string{"build", "--reproducible", "-t", "v1", "--file-output"}
			base := []string{"BASE_IMAGE=" + env.BaseImage()}

			var cout bytes.Buffer
			err := Run(ctx, Config{Rootfs: rootfs, Dir: "/workspace/" + p.name,
				Args:   append(append([]string{"/skiff/skiff"}, common...), append([]string{"/workspace/" + p.name + ".json", "-d", repo + "/container"}, p.args...)...),
				Env:    append([]string{"HOME=/root", "PATH=/usr/bin:/bin"}, base...),
				Stdout: &cout, Stderr: &cout})
			if err != nil {
				t.Fatalf("skiff build in the container: %v\n%s", err, cout.String())
			}
			if !strings.Contains(cout.String(), "container isolation") {
				t.Errorf("the build does not say it ran in container isolation:\n%s", cout.String())
			}
			inCtr := artifact(t, filepath.Join(rootfs, "workspace", p.name+".json"))

			hostOut := filepath.Join(t.TempDir(), "out.json")
			cmd := exec.CommandContext(ctx, skiff, append(append(common, hostOut, "-d", repo+"/root", "--cache-dir", t.TempDir()), p.args...)...)
			cmd.Dir = p.dir
			cmd.Env = append(os.Environ(), base...)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("skiff build as root: %v\n%s", err, b)
			}
			onHost := artifact(t, hostOut)
			compareImages(t, onHost, inCtr)
		})
	}
}

// artifact reads the one image reference of an artifacts file.
func artifact(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Builds []struct{ Tag string }
	}
	if err := json.Unmarshal(b, &out); err != nil || len(out.Builds) != 1 {
		t.Fatalf("artifacts %s: %v %s", file, err, b)
	}
	return out.Builds[0].Tag
}

// compareImages pulls both images and compares digests, configs and files.
func compareImages(t *testing.T, want, got string) {
	t.Helper()
	wi, gi := pull(t, want), pull(t, got)
	wcf, err := wi.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	gcf, err := gi.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(wcf, gcf); d != "" {
		t.Errorf("configs differ (-root +container):\n%s", d)
	}
	if d := cmp.Diff(files(t, wi), files(t, gi)); d != "" {
		t.Errorf("files differ (-root +container):\n%s", d)
	}
	wd, _ := wi.Digest()
	gd, _ := gi.Digest()
	if wd != gd {
		wl, _ := wi.Layers()
		gl, _ := gi.Layers()
		t.Errorf("digests differ with --reproducible: root %s, container %s (%d and %d layers)", wd, gd, len(wl), len(gl))
		for i := 0; i < len(wl) && i < len(gl); i++ {
			a, _ := wl[i].DiffID()
			b, _ := gl[i].DiffID()
			if a != b {
				t.Errorf("layer %d: root %v, container %v", i, layerNames(t, wl[i]), layerNames(t, gl[i]))
			}
		}
	}
}

func pull(t *testing.T, ref string) v1.Image {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	return img
}

// files lists the flattened filesystem: name, type, mode, owner, size,
// link target and a content hash per entry.
func files(t *testing.T, img v1.Image) []string {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	var out []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.New()
		if _, err := io.Copy(sum, tr); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %c %o %d:%d %d %s %x %s", h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.Size, h.Linkname, sum.Sum(nil)[:8], h.ModTime.UTC()))
	}
	sort.Strings(out)
	return out
}

func layerNames(t *testing.T, l v1.Layer) []string {
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var out []string
	for {
		h, err := tr.Next()
		if err != nil {
			return out
		}
		out = append(out, h.Name)
	}
}

// copyTree copies a file or a directory tree (modes only).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			return os.MkdirAll(to, fi.Mode().Perm())
		case fi.Mode()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, to)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		return os.WriteFile(to, b, fi.Mode().Perm())
	})
}

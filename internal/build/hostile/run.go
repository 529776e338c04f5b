package hostile

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"

	"github.com/skiff-dev/skiff/internal/testenv"
)

// Mode is one isolation mode under test: how to run one build.
type Mode struct {
	// Name is the mode ("root", "rootless", "container"); cases list the
	// modes they do not apply to by it.
	Name string
	// UID and GID own the sentinel tree: the user the build runs as, so
	// that a build escaping its isolation could change it.
	UID, GID int
	// Build builds the project in dir (a skaffold.yaml and a Dockerfile at
	// its root, readable by the mode's user) and pushes the image to repo.
	Build func(ctx context.Context, t *testing.T, dir, repo string) Outcome
}

// Outcome is what one build did.
type Outcome struct {
	// Image is the pushed image (repo:tag@digest) of a successful build.
	Image string
	// Err is non-nil when the build failed; ErrorLine is the one line the
	// user was shown.
	Err       error
	ErrorLine string
	// Output is the end of the build's output.
	Output string
	// MaxRSS is the peak resident memory of the builder in bytes; 0 when
	// the mode cannot tell.
	MaxRSS int64
}

// Run builds every case of the corpus in mode m and checks that the host's
// sentinel tree and host name stay unchanged, that a refused build fails
// with one line naming what and where, and what the case checks of a
// successful build's image.
func Run(t *testing.T, m Mode) {
	env := testenv.Require(t)
	srv := startServers(t)
	probe := Probe(t)
	key := addHostKeys(t)
	defer key()
	for _, c := range Cases() {
		t.Run(c.Name, func(t *testing.T) {
			if why, ok := c.NotIn[m.Name]; ok {
				t.Skipf("not in %s mode: %s", m.Name, why)
			}
			e := srv.env
			e.Sentinel = newSentinel(t, m.UID, m.GID)
			base := env.BaseImage()
			if c.Layer != nil {
				base = pushBase(t, env, base, c.Layer(e))
			}
			dir := writeProject(t, c, e, base, probe)
			before := treeOf(t, e.Sentinel)
			hostname, _ := os.Hostname()
			o := m.Build(context.Background(), t, dir, env.Repo(t, "hostile"))
			if h, _ := os.Hostname(); h != hostname {
				t.Errorf("the host name changed to %q", h)
			}
			if after := treeOf(t, e.Sentinel); after != before {
				t.Errorf("the host's sentinel tree changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			if c.WantErr != "" {
				checkRefused(t, c, o)
				return
			}
			if o.Err != nil {
				t.Fatalf("build failed: %v\n%s", o.Err, o.Output)
			}
			if c.Check != nil {
				c.Check(t, Flatten(t, o.Image), o, e)
			}
		})
	}
}

func checkRefused(t *testing.T, c Case, o Outcome) {
	t.Helper()
	if o.Err == nil {
		t.Fatalf("the build succeeded (%s); want an error with %q", o.Image, c.WantErr)
	}
	line := o.ErrorLine
	if line == "" || strings.Contains(line, "\n") {
		t.Errorf("the error is not one line: %q", line)
	}
	if !strings.Contains(line, c.WantErr) {
		t.Errorf("error %q does not say %q\n%s", line, c.WantErr, o.Output)
	}
	if c.WantLine > 0 && !strings.Contains(line, fmt.Sprintf("Dockerfile:%d:", c.WantLine)) {
		t.Errorf("error %q does not name Dockerfile line %d", line, c.WantLine)
	}
}

// newSentinel makes the host tree a case must leave alone: files, a
// directory, a symlink and a victim.sock directory (what finding 1's
// cleanup deleted), all with old times, owned by uid:gid.
func newSentinel(t *testing.T, uid, gid int) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "skiff-sentinel-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "a"), []byte("sentinel a\n"), 0o644))
	must(os.Mkdir(filepath.Join(dir, "c"), 0o755))
	must(os.Mkdir(filepath.Join(dir, "victim.sock"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "c", "b"), []byte("sentinel b\n"), 0o600))
	must(os.Symlink("a", filepath.Join(dir, "link")))
	must(filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, uid, gid); err != nil {
			return err
		}
		ts := []unix.Timespec{unix.NsecToTimespec(old.UnixNano()), unix.NsecToTimespec(old.UnixNano())}
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
	}))
	return dir
}

// treeOf lists every entry under dir: name, mode, owner, size, times, link
// target and content.
func treeOf(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		rel, _ := filepath.Rel(dir, p)
		line := fmt.Sprintf("%s %v %d:%d size=%d mtime=%d", rel, fi.Mode(), st.Uid, st.Gid, fi.Size(), fi.ModTime().UnixNano())
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			line += " -> " + l
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			line += fmt.Sprintf(" %q", b)
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// writeProject writes the case's build context: Dockerfile, skaffold.yaml
// with the Env as build args, the probe and the case's files.
func writeProject(t *testing.T, c Case, e Env, base, probe string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "skiff-hostile-ctx-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	args := map[string]string{"BASE": base, "SENTINEL": e.Sentinel, "HOSTADDR": e.HostAddr, "HOSTPORT": e.HostPort,
		"NSADDR": e.NetnsAddr, "URL": e.URL}
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var y strings.Builder
	y.WriteString("apiVersion: skaffold/v4beta11\nkind: Config\nbuild:\n  tagPolicy:\n    inputDigest: {}\n  artifacts:\n  - image: hostile\n    docker:\n      buildArgs:\n")
	for _, k := range keys {
		fmt.Fprintf(&y, "        %s: %q\n", k, args[k])
	}
	files := map[string]string{"Dockerfile": c.Dockerfile, "skaffold.yaml": y.String()}
	if c.Files != nil {
		for k, v := range c.Files(e) {
			files[k] = v
		}
	}
	for p, content := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			err = os.Symlink(target, full)
		} else {
			err = os.WriteFile(full, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(probe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "probe"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// pushBase pushes base plus one crafted layer and returns its reference.
func pushBase(t *testing.T, env *testenv.Env, base string, entries []Entry) string {
	t.Helper()
	data := []byte(Tar(entries))
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	baseRef, err := name.ParseReference(base, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(baseRef)
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(env.Repo(t, "hostile-base")+":base", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	return tag.String()
}

// File is one entry of an image's flattened filesystem.
type File struct {
	Type     byte
	Mode     int64
	UID, GID int
	Linkname string
	// Content holds a regular file's first MiB.
	Content string
}

// FS is an image's flattened filesystem by absolute path.
type FS map[string]File

// Flatten pulls ref from the sandbox registry and flattens its layers.
func Flatten(t *testing.T, ref string) FS {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	out := FS{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		f := File{Type: h.Typeflag, Mode: h.Mode, UID: h.Uid, GID: h.Gid, Linkname: h.Linkname}
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(io.LimitReader(tr, 1<<20))
			f.Content = string(b)
		}
		out["/"+strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")] = f
	}
}

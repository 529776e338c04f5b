package ko

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/skiff-dev/skiff/internal/testenv"
)

// helloCopy is a copy of testdata/hello whose kodata also has a symbolic
// link to a file and one to a directory outside kodata, which ko follows.
func helloCopy(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "hello"))); err != nil {
		t.Fatal(err)
	}
	kodata := filepath.Join(dir, "cmd", "hello", "kodata")
	shared := filepath.Join(dir, "shared")
	if err := os.MkdirAll(filepath.Join(shared, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shared, "sub", "page.html"), []byte("<p>hi</p>\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"motd-link": "motd", "static": shared} {
		if err := os.Symlink(target, filepath.Join(kodata, link)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// retypedBase pushes the sandbox's busybox again with the media types of
// one format (OCI, or Docker's schema 2), for the layer types ko matches to
// the base.
func retypedBase(t *testing.T, env *testenv.Env, manifest, config, layer types.MediaType) string {
	t.Helper()
	src := pull(t, env.BaseImage())
	cf, err := src.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := src.Layers()
	if err != nil {
		t.Fatal(err)
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, manifest), config)
	for _, l := range layers {
		oci, err := tarball.LayerFromOpener(l.Compressed, tarball.WithMediaType(layer))
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, oci); err != nil {
			t.Fatal(err)
		}
	}
	out, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	out = out.DeepCopy()
	out.Config, out.OS, out.Architecture = cf.Config, cf.OS, cf.Architecture
	if img, err = mutate.ConfigFile(img, out); err != nil {
		t.Fatal(err)
	}
	ref := env.Repo(t, "busybox") + ":" + strings.NewReplacer("/", "-", ".", "-", "+", "-").Replace(string(manifest))
	push(t, ref, img)
	return ref
}

func pull(t *testing.T, ref string) v1.Image {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func push(t *testing.T, ref string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
}

// TestBuildImage checks the image against what ko documents
// (https://ko.build/features/static-assets/, https://ko.build/configuration/):
// the binary at /ko-app/<name> as entrypoint, mode 0555; kodata at
// /var/run/ko with links followed; KO_DATA_PATH and PATH; the labels; every
// timestamp the epoch; the base named in annotations; layers typed like the
// base's; and the same digest from a second build.
func TestBuildImage(t *testing.T) {
	env := testenv.Require(t)
	dir := helloCopy(t)
	epoch := time.Unix(1700000000, 0).UTC()
	for _, tc := range []struct {
		name, base string
		layerType  types.MediaType
	}{
		{"docker base", retypedBase(t, env, types.DockerManifestSchema2, types.DockerConfigJSON, types.DockerLayer), types.DockerLayer},
		{"oci base", retypedBase(t, env, types.OCIManifestSchema1, types.OCIConfigJSON, types.OCILayer), types.OCILayer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := Spec{
				Dir: dir, ImportPath: "./cmd/hello", BaseImage: tc.base, HasBuildConfig: true,
				Env:     []string{"HELLO_VERSION=v7", "GOFLAGS=-buildvcs=false"},
				Ldflags: []string{"-X main.version={{.Env.HELLO_VERSION}}-{{.GoEnv.GOOS}}"},
				Labels:  map[string]string{"org.opencontainers.image.title": "hello"},
			}
			var logged []string
			img, err := Build(context.Background(), spec, Options{Epoch: &epoch, Log: func(s string) { logged = append(logged, s) }})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"Building example.com/hello/cmd/hello for linux/amd64"}, logged); diff != "" {
				t.Errorf("progress (-want +got):\n%s", diff)
			}
			base := pull(t, tc.base)
			checkConfig(t, img, base, epoch)
			checkManifest(t, img, base, tc.base, tc.layerType)

			layers, err := img.Layers()
			if err != nil {
				t.Fatal(err)
			}
			data := layerEntries(t, layers[len(layers)-2])
			want := map[string]entry{
				"/var":                             {tar.TypeDir, 0o555, ""},
				"/var/run":                         {tar.TypeDir, 0o555, ""},
				"/var/run/ko":                      {tar.TypeDir, 0o555, ""},
				"/var/run/ko/motd":                 {tar.TypeReg, 0o555, "from kodata\n"},
				"/var/run/ko/motd-link":            {tar.TypeReg, 0o555, "from kodata\n"},
				"/var/run/ko/static/sub/page.html": {tar.TypeReg, 0o555, "<p>hi</p>\n"},
			}
			if diff := cmp.Diff(want, data.entries); diff != "" {
				t.Errorf("kodata layer (-want +got):\n%s", diff)
			}
			for name, mt := range data.times {
				if !mt.Equal(epoch) {
					t.Errorf("kodata entry %s has time %s, want the epoch", name, mt)
				}
			}
			app := layerEntries(t, layers[len(layers)-1])
			if len(app.entries) != 2 || app.entries["ko-app"] != (entry{tar.TypeDir, 0o555, ""}) ||
				app.entries["/ko-app/hello"].Type != tar.TypeReg || app.entries["/ko-app/hello"].Mode != 0o555 {
				t.Errorf("binary layer: %v, want the ko-app directory and /ko-app/hello, mode 0555", keys(app.entries))
			}
			if out := run(t, app.entries["/ko-app/hello"].Content, dir); !strings.Contains(out, "version v7-linux,") {
				t.Errorf("the binary printed %q: the templated ldflags did not apply", out)
			}

			again, err := Build(context.Background(), spec, Options{Epoch: &epoch})
			if err != nil {
				t.Fatal(err)
			}
			if d1, d2 := digest(t, img), digest(t, again); d1 != d2 {
				t.Errorf("two builds with the same epoch: %s and %s", d1, d2)
			}
		})
	}
}

func checkConfig(t *testing.T, img, base v1.Image, epoch time.Time) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	bcf, err := base.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/ko-app/hello"}, cf.Config.Entrypoint); diff != "" || cf.Config.Cmd != nil {
		t.Errorf("entrypoint (-want +got):\n%s; cmd %q, want none", diff, cf.Config.Cmd)
	}
	var basePath string
	for _, e := range bcf.Config.Env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			basePath = v
		}
	}
	if basePath == "" {
		t.Fatal("the base image sets no PATH")
	}
	wantEnv := []string{"PATH=" + basePath + ":/ko-app", "KO_DATA_PATH=/var/run/ko"}
	if diff := cmp.Diff(wantEnv, cf.Config.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	if cf.Config.Labels["org.opencontainers.image.title"] != "hello" {
		t.Errorf("labels %v", cf.Config.Labels)
	}
	if !cf.Created.Equal(epoch) || cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("created %s, platform %s/%s; want the epoch, linux/amd64", cf.Created, cf.OS, cf.Architecture)
	}
	h := cf.History[len(cf.History)-2:]
	if h[0].Comment != "kodata contents, at $KO_DATA_PATH" || h[1].Comment != "go build output, at /ko-app/hello" ||
		!h[0].Created.Equal(epoch) || !h[1].Created.Equal(epoch) {
		t.Errorf("history of the two layers: %+v", h)
	}
}

func checkManifest(t *testing.T, img, base v1.Image, baseName string, layerType types.MediaType) {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	bm, err := base.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != bm.MediaType || len(m.Layers) != len(bm.Layers)+2 {
		t.Fatalf("manifest %s with %d layers, base %s with %d", m.MediaType, len(m.Layers), bm.MediaType, len(bm.Layers))
	}
	for _, l := range m.Layers[len(bm.Layers):] {
		if l.MediaType != layerType {
			t.Errorf("added layer of type %s on a base whose layers are %s", l.MediaType, layerType)
		}
	}
	want := map[string]string{
		"org.opencontainers.image.base.name":   mustRef(t, baseName).Name(),
		"org.opencontainers.image.base.digest": digest(t, base).String(),
	}
	if diff := cmp.Diff(want, m.Annotations); diff != "" {
		t.Errorf("annotations (-want +got):\n%s", diff)
	}
}

// TestBuildCache: with a cache directory the binary stays at ko's path
// (where the go tool finds it up to date and skips the link), and a
// rebuild of the same binary takes its layer's digest from the cache
// and gives the same image, whose layer bytes still match.
func TestBuildCache(t *testing.T) {
	env := testenv.Require(t)
	dir := helloCopy(t)
	cache := t.TempDir()
	epoch := time.Unix(1700000000, 0).UTC()
	spec := Spec{Dir: dir, ImportPath: "./cmd/hello", BaseImage: env.BaseImage(), Env: []string{"GOFLAGS=-buildvcs=false"}, HasBuildConfig: true}
	first, err := Build(context.Background(), spec, Options{Epoch: &epoch, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(cache, "bin", "example.com/hello/cmd/hello", "linux/amd64", "out")
	if _, err := os.Stat(out); err != nil {
		t.Errorf("the binary is not kept in the cache: %v", err)
	}
	second, err := Build(context.Background(), spec, Options{Epoch: &epoch, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	layers, err := second.Layers()
	if err != nil {
		t.Fatal(err)
	}
	bin := layers[len(layers)-1]
	if _, ok := bin.(*cachedLayer); !ok {
		t.Errorf("the rebuilt binary's layer is a %T, not from the cache", bin)
	}
	if digest(t, first) != digest(t, second) {
		t.Error("the rebuild from the cache changed the image")
	}
	// What a push sends must hash to the digest the manifest names.
	rc, err := bin.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h, _, err := v1.SHA256(rc)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := bin.Digest(); h != d {
		t.Errorf("cached layer %s sends bytes of digest %s", d, h)
	}
}

// TestBuildErrors: each mistake is one line naming the package and what
// to do, and builds nothing.
func TestBuildErrors(t *testing.T) {
	env := testenv.Require(t)
	dir := helloCopy(t)
	broken := filepath.Join(dir, "cmd", "broken")
	if err := os.MkdirAll(broken, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(broken, "main.go"), []byte("package main\n\nfunc main() { undefinedThing() }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	arm := env.Repo(t, "arm") + ":1"
	armImg, err := mutate.ConfigFile(pull(t, env.BaseImage()), &v1.ConfigFile{OS: "linux", Architecture: "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	push(t, arm, armImg)

	spec := func(main string, mod func(*Spec)) Spec {
		s := Spec{Dir: dir, ImportPath: main, BaseImage: env.BaseImage(), Env: []string{"GOFLAGS=-buildvcs=false"}, HasBuildConfig: true}
		if mod != nil {
			mod(&s)
		}
		return s
	}
	for _, tc := range []struct {
		name   string
		spec   Spec
		goPath string
		want   []string
	}{
		{"no go tool", spec("./cmd/hello", nil), "/nonexistent/go", []string{"./cmd/hello", "/nonexistent/go", "install Go", "KO_GO_PATH"}},
		{"not main", spec("./internal/greet", nil), "", []string{"example.com/hello/internal/greet", "not package main", "ko.main"}},
		{"compile error", spec("./cmd/broken", nil), "", []string{"example.com/hello/cmd/broken", "go build", "main.go:3", "undefinedThing"}},
		{"toolexec", spec("./cmd/hello", func(s *Spec) { s.Flags = []string{"-toolexec=/bin/true"} }), "", []string{"example.com/hello/cmd/hello", "-toolexec", "ko.flags"}},
		{"unknown template", spec("./cmd/hello", func(s *Spec) { s.Ldflags = []string{"-X main.version={{.Env.NOT_SET_ANYWHERE}}"} }), "", []string{"example.com/hello/cmd/hello", "ldflags", "NOT_SET_ANYWHERE"}},
		{"base of another platform", spec("./cmd/hello", func(s *Spec) { s.BaseImage = arm }), "", []string{"example.com/hello/cmd/hello", "linux/arm64", "linux/amd64"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.goPath != "" {
				t.Setenv("KO_GO_PATH", tc.goPath)
			}
			_, err := Build(context.Background(), tc.spec, Options{})
			if err == nil {
				t.Fatal("built without error")
			}
			t.Log(err)
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error of several lines: %q", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

type entry struct {
	Type    byte
	Mode    int64
	Content string
}

type layerFiles struct {
	entries map[string]entry
	times   map[string]time.Time
}

func layerEntries(t *testing.T, l v1.Layer) layerFiles {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := layerFiles{entries: map[string]entry{}, times: map[string]time.Time{}}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out.entries[h.Name] = entry{h.Typeflag, h.Mode, string(b)}
		out.times[h.Name] = h.ModTime
	}
}

// run executes the image's binary here with KO_DATA_PATH at the project's
// kodata; it prints its version.
func run(t *testing.T, content, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hello")
	if err := os.WriteFile(bin, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{"KO_DATA_PATH=" + filepath.Join(dir, "cmd", "hello", "kodata")}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("running the binary: %v: %s", err, out)
	}
	return string(out)
}

func digest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func keys(m map[string]entry) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

package dockerbuild

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/skiff-dev/skiff/internal/build/dockerfile"
	"github.com/skiff-dev/skiff/internal/build/snapshot"
	"github.com/skiff-dev/skiff/internal/oci"
)

// hostDir returns a host directory and a check that it stayed empty.
func hostDir(t *testing.T) (string, func()) {
	t.Helper()
	dir := t.TempDir()
	return dir, func() {
		t.Helper()
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) > 0 {
			t.Errorf("the build wrote to the host: %v", ents)
		}
	}
}

func TestHostileRun(t *testing.T) {
	h := newHarness(t, snapshot.Auto)
	host, check := hostDir(t)
	defer check()
	hostname, _ := os.Hostname()
	dir := writeContext(t, map[string]string{"Dockerfile": `ARG BASE
FROM $BASE
RUN mkdir -p ` + host + ` && echo pwned > ` + host + `/marker
RUN mount -t tmpfs none /mnt 2>/dev/null && echo mounted > /escaped || true
RUN mknod /disk b 8 0 2>/dev/null && echo mknod > /escaped || true
RUN echo 1 > /proc/sys/kernel/sysrq 2>/dev/null && echo sysctl > /escaped || true
RUN hostname evil 2>/dev/null && echo hostname > /escaped || true
RUN cd /../../../..; echo climbed > ./climbed
`})
	res, _ := h.build(t, h.options(dir, map[string]string{"BASE": h.env.BaseImage()}))
	fs := flatten(t, res.Image)
	if fs[host+"/marker"].Content != "pwned\n" {
		t.Errorf("the RUN's write did not land inside the image")
	}
	if e, ok := fs["/escaped"]; ok {
		t.Errorf("the sandbox allowed: %s", e.Content)
	}
	if _, ok := fs["/climbed"]; !ok {
		t.Errorf("cd .. left the root filesystem")
	}
	if h, _ := os.Hostname(); h != hostname {
		t.Errorf("the host name changed to %s", h)
	}
}

func TestHostileCopy(t *testing.T) {
	h := newHarness(t, snapshot.Auto)
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("host secret"), 0o600)
	evilTar := func() string {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: "../../../escape", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
		tw.Write([]byte("x"))
		tw.Close()
		return buf.String()
	}()
	tests := []struct {
		name, instr string
		want        string
	}{
		{"dot-dot", "COPY ../secret /x", "outside the build context"},
		{"dot-dot inside a path", "COPY sub/../../secret /x", "outside the build context"},
		{"absolute symlink", "COPY abs-link /x", "points outside the build context"},
		{"relative symlink", "COPY rel-link /x", "points outside the build context"},
		{"symlinked directory", "COPY linkdir/secret /x", "points outside the build context"},
		{"wildcard through a symlink", "COPY linkdir/* /x/", "points outside the build context"},
		{"archive with dot-dot", "ADD evil.tar /x/", "escapes the root"},
		{"missing source", "COPY nope /x", "nope: not found"},
		{"ignored source", "COPY hidden.secret /x", "excluded by .dockerignore"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeContext(t, map[string]string{
				"Dockerfile":    "ARG BASE\nFROM $BASE\n" + tt.instr + "\n",
				".dockerignore": "*.secret\n",
				"abs-link":      "->" + filepath.Join(outside, "secret"),
				"rel-link":      "->../../../../../../../../" + filepath.Join(outside, "secret"),
				"linkdir":       "->" + outside,
				"sub/f":         "f",
				"hidden.secret": "s",
				"evil.tar":      evilTar,
			})
			_, err := Build(context.Background(), h.options(dir, map[string]string{"BASE": h.env.BaseImage()}))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			var se *StepError
			if !errors.As(err, &se) || se.Line != 3 {
				t.Errorf("error does not name line 3: %#v", err)
			}
		})
	}
	// Symlinks inside a copied directory are copied as links, never read.
	dir := writeContext(t, map[string]string{
		"Dockerfile": "ARG BASE\nFROM $BASE\nCOPY tree/ /tree/\n",
		"tree/link":  "->" + filepath.Join(outside, "secret"),
		"tree/f":     "f",
	})
	res, _ := h.build(t, h.options(dir, map[string]string{"BASE": h.env.BaseImage()}))
	fs := flatten(t, res.Image)
	if l := fs["/tree/link"]; l.Type != tar.TypeSymlink || l.Content != "" {
		t.Errorf("/tree/link = %+v, want a symlink", l)
	}
}

// hostileBase pushes the sandbox base image plus one crafted layer.
func hostileBase(t *testing.T, h *harness, entries []*tar.Header, bodies map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, hdr := range entries {
		body := bodies[hdr.Name]
		hdr.Size = int64(len(body))
		if hdr.Mode == 0 {
			hdr.Mode = 0o755
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	baseRef, _ := name.ParseReference(h.env.BaseImage())
	base, err := remote.Image(baseRef)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		t.Fatal(err)
	}
	ref := h.env.Repo(t, "hostile") + ":base"
	tag, _ := name.NewTag(ref)
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestHostileBaseLayers(t *testing.T) {
	for _, kind := range []snapshot.Kind{snapshot.Overlay, snapshot.Walk} {
		t.Run(string(kind), func(t *testing.T) {
			h := newHarness(t, kind)
			host, check := hostDir(t)
			defer check()

			escaping := hostileBase(t, h, []*tar.Header{{Name: "../../../../escape", Typeflag: tar.TypeReg}}, nil)
			dir := writeContext(t, map[string]string{"Dockerfile": "FROM " + escaping + "\nRUN true\n"})
			_, err := Build(context.Background(), h.options(dir, nil))
			if err == nil || !strings.Contains(err.Error(), "escapes the root") {
				t.Errorf("base layer with ../: err = %v", err)
			}
			filepath.WalkDir(filepath.Dir(h.store.Root()), func(p string, d fs.DirEntry, err error) error {
				if d != nil && d.Name() == "escape" {
					t.Errorf("extraction wrote %s", p)
				}
				return nil
			})

			linking := hostileBase(t, h, []*tar.Header{
				{Name: "hostlink", Typeflag: tar.TypeSymlink, Linkname: host},
				{Name: "hostlink/from-layer", Typeflag: tar.TypeReg},
				{Name: "rel", Typeflag: tar.TypeSymlink, Linkname: "../../../../../../.." + host},
			}, map[string]string{"hostlink/from-layer": "layer"})
			dir = writeContext(t, map[string]string{
				"Dockerfile": "FROM " + linking + "\nRUN mkdir -p /hostlink/ && echo run > /hostlink/from-run\nCOPY f /hostlink/\nCOPY f /rel/copied\nRUN cat /hostlink/from-layer /hostlink/f\n",
				"f":          "copied\n",
			})
			res, _ := h.build(t, h.options(dir, nil))
			fs := flatten(t, res.Image)
			for _, p := range []string{host + "/from-run", host + "/f", host + "/copied"} {
				if _, ok := fs[p]; !ok {
					t.Errorf("%s: missing in the image (writes through the link must stay in the root)", p)
				}
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	h := newHarness(t, snapshot.Auto)
	missing := h.env.Registry() + "/does/not-exist:1"
	tests := []struct {
		name, dockerfile string
		want             string
		line             int
		unreachable      bool
	}{
		{"syntax", "FROM scratch\nCOPY onlyone\n", "Dockerfile:2: COPY requires at least two arguments", 2, false},
		{"unknown instruction", "FROM scratch\n\nFROB x\n", "Dockerfile:3: unknown instruction: FROB", 3, false},
		{"missing base", "FROM " + missing + "\n", "base image " + missing + " not found", 1, false},
		{"unreachable registry", "FROM 127.0.0.1:1/app:1\n", "registry 127.0.0.1:1 is unreachable after 2 attempts", 1, true},
		{"failing run", "ARG BASE\nFROM $BASE\nRUN echo bye; exit 3\n", "Dockerfile:3: RUN echo bye; exit 3: the command failed with exit code 3", 3, false},
		{"missing command", "ARG BASE\nFROM $BASE\nRUN [\"/no/such\"]\n", "/no/such", 3, false},
		{"missing secret", "ARG BASE\nFROM $BASE\nRUN --mount=type=secret,id=tok,required cat /run/secrets/tok\n", `secret "tok" is required`, 3, false},
		{"unknown user", "ARG BASE\nFROM $BASE\nUSER nosuchuser\nRUN true\n", `user "nosuchuser" not found`, 4, false},
		{"bad chmod", "ARG BASE\nFROM $BASE\nCOPY --chmod=999 Dockerfile /\n", "invalid --chmod=999", 3, false},
		{"target", "FROM scratch AS a\n", `target stage "b" not found`, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeContext(t, map[string]string{"Dockerfile": tt.dockerfile})
			opts := h.options(dir, map[string]string{"BASE": h.env.BaseImage()})
			if tt.name == "target" {
				opts.Target = "b"
			}
			_, err := Build(context.Background(), opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			var se *StepError
			var de *dockerfile.Error
			switch {
			case errors.As(err, &se):
				if se.Line != tt.line {
					t.Errorf("line = %d, want %d", se.Line, tt.line)
				}
			case errors.As(err, &de):
				if de.Line != tt.line {
					t.Errorf("line = %d, want %d", de.Line, tt.line)
				}
			default:
				t.Errorf("error %T carries no line", err)
			}
			var ue *oci.UnreachableError
			if tt.unreachable != errors.As(err, &ue) {
				t.Errorf("unreachable = %v, want %v", errors.As(err, &ue), tt.unreachable)
			}
		})
	}
}

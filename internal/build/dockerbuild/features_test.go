package dockerbuild

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/skiff-dev/skiff/internal/build/cache"
	"github.com/skiff-dev/skiff/internal/build/snapshot"
)

// TestRegistryCache builds with only the registry cache, then again on a
// "fresh machine" (new local store) and expects every step from the registry.
func TestRegistryCache(t *testing.T) {
	h := newHarness(t, snapshot.Auto)
	dir := writeContext(t, map[string]string{
		"Dockerfile": "ARG BASE\nFROM $BASE\nCOPY f /f\nRUN echo x > /x\nRUN true\n",
		"f":          "f\n",
	})
	repo, err := name.NewRepository(h.env.Repo(t, "app") + "/cache")
	if err != nil {
		t.Fatal(err)
	}
	opts := h.options(dir, map[string]string{"BASE": h.env.BaseImage()})
	opts.Cache = cache.NewRegistry(h.client, repo)
	first, _ := h.build(t, opts)
	h2 := newHarness(t, snapshot.Auto)
	opts2 := h2.options(dir, map[string]string{"BASE": h.env.BaseImage()})
	opts2.Cache = cache.NewRegistry(h.client, repo)
	second, _ := h2.build(t, opts2)
	if second.Cached != 3 {
		t.Errorf("registry cache: %d of %d steps cached", second.Cached, second.Steps)
	}
	d1, _ := first.Image.Digest()
	d2, _ := second.Image.Digest()
	if d1 != d2 {
		t.Errorf("image from the registry cache differs: %s vs %s", d1, d2)
	}
	pulled, _ := h2.push(t, second.Image, "fromcache")
	if got := flatten(t, pulled)["/x"].Content; got != "x\n" {
		t.Errorf("/x = %q", got)
	}
}

func TestRunFeatures(t *testing.T) {
	h := newHarness(t, snapshot.Auto)
	dir := writeContext(t, map[string]string{"Dockerfile": `ARG BASE
FROM $BASE
ARG PORT=8080
EXPOSE $PORT/udp
RUN --network=none grep -c : /proc/net/dev > /net-none
RUN grep -c : /proc/net/dev > /net-host
RUN <<EOF
#!/bin/sh
echo "script $0" > /script
EOF
RUN <<EOF
echo plain heredoc > /plain
EOF
RUN --mount=type=tmpfs,target=/scratch echo t > /scratch/t && ls /scratch > /tmpfs-listing
`})
	res, _ := h.build(t, h.options(dir, map[string]string{"BASE": h.env.BaseImage()}))
	fs := flatten(t, res.Image)
	if got := fs["/net-none"].Content; got != "1\n" {
		t.Errorf("--network=none sees %q interfaces, want only lo", got)
	}
	if got := fs["/net-host"].Content; got == "1\n" || got == "" {
		t.Errorf("default network sees %q interfaces, want the host's", got)
	}
	if got := fs["/script"].Content; got != "script /dev/pipes/EOF\n" {
		t.Errorf("shebang heredoc: %q", got)
	}
	if got := fs["/plain"].Content; got != "plain heredoc\n" {
		t.Errorf("heredoc: %q", got)
	}
	if got := fs["/tmpfs-listing"].Content; got != "t\n" {
		t.Errorf("tmpfs mount: %q", got)
	}
	if _, ok := fs["/scratch/t"]; ok {
		t.Error("a tmpfs mount's content went into the layer")
	}
	cf, _ := res.Image.ConfigFile()
	if _, ok := cf.Config.ExposedPorts["8080/udp"]; !ok {
		t.Errorf("EXPOSE $PORT/udp: %v", cf.Config.ExposedPorts)
	}
}

func TestCopySources(t *testing.T) {
	h := newHarness(t, snapshot.Auto)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT")
		fmt.Fprint(w, "downloaded\n")
	}))
	defer srv.Close()
	dir := writeContext(t, map[string]string{
		"Dockerfile": `ARG BASE
FROM $BASE AS src
RUN mkdir -p /x && echo from-stage > /x/f
FROM $BASE
COPY --from=` + h.env.BaseImage() + ` /etc/passwd /from-image/passwd
RUN --mount=type=bind,from=src,source=/x,target=/mnt/x cat /mnt/x/f > /bound
ADD ` + srv.URL + `/files/remote.txt /downloads/
ADD --checksum=sha256:bad ` + srv.URL + `/files/remote.txt /never
`,
	})
	_, err := Build(context.Background(), h.options(dir, map[string]string{"BASE": h.env.BaseImage()}))
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("bad --checksum: err = %v", err)
	}
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(strings.Replace(readString(t, filepath.Join(dir, "Dockerfile")), "ADD --checksum=sha256:bad "+srv.URL+"/files/remote.txt /never\n", "", 1)), 0o644)
	res, _ := h.build(t, h.options(dir, map[string]string{"BASE": h.env.BaseImage()}))
	fs := flatten(t, res.Image)
	if !strings.HasPrefix(fs["/from-image/passwd"].Content, "root:") {
		t.Errorf("COPY --from=<image>: %q", fs["/from-image/passwd"].Content)
	}
	if got := fs["/bound"].Content; got != "from-stage\n" {
		t.Errorf("RUN --mount=type=bind,from=<stage>: %q", got)
	}
	if f := fs["/downloads/remote.txt"]; f.Content != "downloaded\n" || f.Mode != 0o600 {
		t.Errorf("ADD <url>: %+v", f)
	}
	if _, ok := fs["/mnt/x"]; ok {
		t.Error("a bind mount point stayed in the layer")
	}
}

func readString(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestScratchAndPlatform(t *testing.T) {
	h := newHarness(t, snapshot.Auto)
	dir := writeContext(t, map[string]string{
		"Dockerfile": `ARG BASE
FROM --platform=linux/amd64 $BASE AS tools
RUN echo tool > /tool
FROM scratch
ENV HELLO=world
COPY --from=tools /tool /bin/busybox /
COPY app.conf /etc/app.conf
WORKDIR /data
`,
		"app.conf": "x=1\n",
	})
	res, _ := h.build(t, h.options(dir, map[string]string{"BASE": h.env.BaseImage()}))
	layers, _ := res.Image.Layers()
	if len(layers) != 3 {
		t.Errorf("FROM scratch image has %d layers, want 3 (two COPY, one WORKDIR)", len(layers))
	}
	fs := flatten(t, res.Image)
	for _, p := range []string{"/tool", "/busybox", "/etc/app.conf", "/data"} {
		if _, ok := fs[p]; !ok {
			t.Errorf("%s missing", p)
		}
	}
	if _, ok := fs["/bin/sh"]; ok {
		t.Error("a scratch image has the base image's files")
	}
	cf, _ := res.Image.ConfigFile()
	if cf.Architecture != "amd64" || cf.OS != "linux" || cf.Config.WorkingDir != "/data" {
		t.Errorf("config: %s/%s workdir %q", cf.OS, cf.Architecture, cf.Config.WorkingDir)
	}
}

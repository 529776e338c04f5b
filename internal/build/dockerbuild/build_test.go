package dockerbuild

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/skiff-dev/skiff/internal/build/cache"
	"github.com/skiff-dev/skiff/internal/build/sandbox"
	"github.com/skiff-dev/skiff/internal/build/snapshot"
	"github.com/skiff-dev/skiff/internal/oci"
	"github.com/skiff-dev/skiff/internal/testenv"
)

func TestMain(m *testing.M) {
	sandbox.Init()
	os.Exit(m.Run())
}

// harness is what a build needs, in a test's temporary directories.
type harness struct {
	env    *testenv.Env
	client *oci.Client
	store  *snapshot.Store
	blobs  *oci.Blobs
	local  *cache.Local
	mounts string
	kind   snapshot.Kind
}

func newHarness(t *testing.T, kind snapshot.Kind) *harness {
	t.Helper()
	env := testenv.Require(t)
	if os.Geteuid() != 0 {
		t.Fatal("building images needs root (mounts and namespaces)")
	}
	dir := t.TempDir()
	store, err := snapshot.OpenStore(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := oci.OpenBlobs(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	local, err := cache.NewLocal(filepath.Join(dir, "cache"), blobs)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{env: env, client: oci.New(oci.Options{Attempts: 2, Backoff: 10 * time.Millisecond}), store: store, blobs: blobs,
		local: local, mounts: filepath.Join(dir, "mounts"), kind: kind}
}

// writeContext creates files from a map; values starting with "->" are
// symlinks.
func writeContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if strings.HasSuffix(p, "/") {
			continue
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(full, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func (h *harness) options(contextDir string, args map[string]string) Options {
	return Options{
		ContextDir: contextDir, Dockerfile: filepath.Join(contextDir, "Dockerfile"),
		BuildArgs: args, Registry: h.client, Store: h.store, Blobs: h.blobs, Snapshotter: h.kind,
		Cache: h.local, CacheMountDir: h.mounts,
	}
}

func (h *harness) build(t *testing.T, opts Options) (*Result, []Event) {
	t.Helper()
	var events []Event
	opts.Events = func(e Event) { events = append(events, e) }
	res, err := Build(context.Background(), opts)
	if err != nil {
		for _, e := range events {
			if e.Kind == StepOutput {
				t.Logf("  | %s", e.Text)
			}
		}
		t.Fatalf("build: %v", err)
	}
	return res, events
}

// push pushes img to a fresh repository and pulls it back.
func (h *harness) push(t *testing.T, img v1.Image, repoName string) (v1.Image, oci.PushResult) {
	t.Helper()
	tag, err := name.NewTag(h.env.Repo(t, repoName) + ":test")
	if err != nil {
		t.Fatal(err)
	}
	return h.pushTo(t, img, tag)
}

func (h *harness) pushTo(t *testing.T, img v1.Image, tag name.Tag) (v1.Image, oci.PushResult) {
	t.Helper()
	res, err := h.client.Push(context.Background(), tag, img)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Image(tag.Context().Digest(res.Digest.String()))
	if err != nil {
		t.Fatal(err)
	}
	return pulled, res
}

// file is a flattened filesystem entry.
type file struct {
	Type     byte
	Mode     int64
	UID, GID int
	Content  string
	Link     string
}

// flatten reads an image's filesystem as Docker would show it.
func flatten(t *testing.T, img v1.Image) map[string]file {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]file{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out["/"+strings.TrimSuffix(strings.TrimPrefix(hdr.Name, "./"), "/")] = file{hdr.Typeflag, hdr.Mode & 0o7777, hdr.Uid, hdr.Gid, string(b), hdr.Linkname}
	}
}

func targz(t *testing.T, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o640, Size: int64(len(files[n])), Uid: 7, Gid: 8, Typeflag: tar.TypeReg, ModTime: time.Unix(1e9, 0)})
		tw.Write([]byte(files[n]))
	}
	tw.Close()
	zw.Close()
	return buf.String()
}

const everyInstruction = `# A Dockerfile with every instruction skiff supports.
ARG BASE
FROM ${BASE} AS builder
ARG VERSION=1.0
ENV APP_HOME=/opt/app
WORKDIR $APP_HOME
COPY src/ ./src/
COPY --chmod=0755 scripts/build.sh /usr/local/bin/
RUN --mount=type=cache,target=/var/cache/build build.sh ${VERSION} > out.txt && ls /var/cache/build > cache-listing.txt
RUN --mount=type=secret,id=token,required=true wc -c < /run/secrets/token > secret-length.txt
RUN <<EOF
echo heredoc > heredoc.txt
EOF

FROM builder AS unused
RUN exit 1

FROM ${BASE}
ARG VERSION
LABEL org.example.version=${VERSION} org.example.name="every instruction"
MAINTAINER skiff
ENV PATH=/opt/app/bin:$PATH GREETING="hello world"
RUN echo 'app:x:1000:1000::/home/app:/bin/sh' >> /etc/passwd && echo 'app:x:1000:' >> /etc/group \
 && rm /bin/vi && mkdir -p /data/sub && echo data > /data/sub/f \
 && ln -s /data/sub/f /data/link && ln /data/sub/f /data/hard && chmod 4750 /data/sub/f
COPY --from=builder --chown=app:app /opt/app/out.txt /opt/app/secret-length.txt /opt/app/heredoc.txt /opt/app/
COPY --from=0 /opt/app/src /opt/app/src
COPY --link --chown=1000:1000 static/ /srv/static/
ADD vendor.tar.gz /opt/vendor/
ADD rootfile.txt /notes/
COPY ["with space.txt", "/notes/"]
COPY *.md /docs/
COPY . /ctx/
COPY link-to-readme /notes/followed
USER app
WORKDIR work
RUN touch made-by-app && id -u > uid.txt && pwd > pwd.txt
EXPOSE 8080 9090/udp
VOLUME ["/data"]
SHELL ["/bin/sh", "-ec"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD wget -q -O- http://localhost:8080/ || exit 1
ONBUILD RUN echo triggered
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo $GREETING"]
`

func everyInstructionContext(t *testing.T) (string, string) {
	secret := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secret, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	return writeContext(t, map[string]string{
		"Dockerfile":          everyInstruction,
		".dockerignore":       "*.secret\n**/*.log\n",
		"src/main.c":          "int main(){return 0;}\n",
		"src/lib/util.c":      "/* util */\n",
		"src/debug.log":       "ignored everywhere\n",
		"scripts/build.sh":    "#!/bin/sh\necho \"built version $1\"\ntouch /var/cache/build/warm\n",
		"static/index.html":   "<h1>hi</h1>\n",
		"static/css/site.css": "body{}\n",
		"vendor.tar.gz":       targz(t, map[string]string{"lib/a.txt": "a", "lib/b.txt": "b"}),
		"rootfile.txt":        "root file\n",
		"with space.txt":      "spaces\n",
		"README.md":           "readme\n",
		"CHANGES.md":          "changes\n",
		"api.secret":          "top-level secret\n",
		"nested/keep.secret":  "nested secrets are not excluded by *.secret\n",
		"link-to-readme":      "->README.md",
	}), secret
}

func TestEveryInstruction(t *testing.T) {
	for _, kind := range []snapshot.Kind{snapshot.Overlay, snapshot.Walk} {
		t.Run(string(kind), func(t *testing.T) {
			h := newHarness(t, kind)
			dir, secret := everyInstructionContext(t)
			opts := h.options(dir, map[string]string{"BASE": h.env.BaseImage(), "VERSION": "2.5"})
			opts.Secrets = map[string]string{"token": secret}
			res, events := h.build(t, opts)
			for _, e := range events {
				if e.Kind == StepStarted && strings.Contains(e.Instruction, "exit 1") {
					t.Errorf("the unused stage ran: %+v", e)
				}
			}
			img, _ := h.push(t, res.Image, "every")
			checkEveryInstruction(t, img)
		})
	}
}

func checkEveryInstruction(t *testing.T, img v1.Image) {
	t.Helper()
	mt, _ := img.MediaType()
	if mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type = %s", mt)
	}
	layers, _ := img.Layers()
	for _, l := range layers {
		if lmt, _ := l.MediaType(); lmt != types.OCILayer {
			t.Errorf("layer media type = %s", lmt)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	got := map[string]any{
		"Env": c.Env, "Entrypoint": c.Entrypoint, "Cmd": c.Cmd, "User": c.User, "WorkingDir": c.WorkingDir,
		"ExposedPorts": c.ExposedPorts, "Labels": c.Labels, "Volumes": c.Volumes, "Shell": c.Shell,
		"StopSignal": c.StopSignal, "OnBuild": c.OnBuild, "Healthcheck": c.Healthcheck, "Author": cf.Author,
	}
	want := map[string]any{
		"Env":          []string{"PATH=/opt/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hello world"},
		"Entrypoint":   []string{"/bin/sh", "-c"},
		"Cmd":          []string{"echo $GREETING"},
		"User":         "app",
		"WorkingDir":   "/work",
		"ExposedPorts": map[string]struct{}{"8080/tcp": {}, "9090/udp": {}},
		"Labels":       map[string]string{"org.example.version": "2.5", "org.example.name": "every instruction"},
		"Volumes":      map[string]struct{}{"/data": {}},
		"Shell":        []string{"/bin/sh", "-ec"},
		"StopSignal":   "SIGTERM",
		"OnBuild":      []string{"RUN echo triggered"},
		"Healthcheck":  &v1.HealthConfig{Test: []string{"CMD-SHELL", "wget -q -O- http://localhost:8080/ || exit 1"}, Interval: 30 * time.Second, Timeout: 3 * time.Second, Retries: 2},
		"Author":       "skiff",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if n := len(cf.History); n < 20 {
		t.Errorf("history has %d entries, want one per instruction", n)
	}

	fs := flatten(t, img)
	wantFiles := map[string]file{
		"/opt/app/out.txt":           {tar.TypeReg, 0o644, 1000, 1000, "built version 2.5\n", ""},
		"/opt/app/secret-length.txt": {tar.TypeReg, 0o644, 1000, 1000, "10\n", ""},
		"/opt/app/heredoc.txt":       {tar.TypeReg, 0o644, 1000, 1000, "heredoc\n", ""},
		"/opt/app/src/main.c":        {tar.TypeReg, 0o644, 0, 0, "int main(){return 0;}\n", ""},
		"/opt/app/src/lib/util.c":    {tar.TypeReg, 0o644, 0, 0, "/* util */\n", ""},
		"/srv/static/index.html":     {tar.TypeReg, 0o644, 1000, 1000, "<h1>hi</h1>\n", ""},
		"/srv/static/css/site.css":   {tar.TypeReg, 0o644, 1000, 1000, "body{}\n", ""},
		"/srv/static":                {tar.TypeDir, 0o755, 1000, 1000, "", ""},
		"/opt/vendor/lib/a.txt":      {tar.TypeReg, 0o640, 7, 8, "a", ""},
		"/notes/rootfile.txt":        {tar.TypeReg, 0o644, 0, 0, "root file\n", ""},
		"/notes/with space.txt":      {tar.TypeReg, 0o644, 0, 0, "spaces\n", ""},
		"/notes/followed":            {tar.TypeReg, 0o644, 0, 0, "readme\n", ""},
		"/docs/README.md":            {tar.TypeReg, 0o644, 0, 0, "readme\n", ""},
		"/docs/CHANGES.md":           {tar.TypeReg, 0o644, 0, 0, "changes\n", ""},
		"/ctx/nested/keep.secret":    {tar.TypeReg, 0o644, 0, 0, "nested secrets are not excluded by *.secret\n", ""},
		"/ctx/link-to-readme":        {tar.TypeSymlink, 0o777, 0, 0, "", "README.md"},
		"/ctx/scripts/build.sh":      {tar.TypeReg, 0o755, 0, 0, "#!/bin/sh\necho \"built version $1\"\ntouch /var/cache/build/warm\n", ""},
		"/data/link":                 {tar.TypeSymlink, 0o777, 0, 0, "", "/data/sub/f"},
		"/work/made-by-app":          {tar.TypeReg, 0o644, 1000, 1000, "", ""},
		"/work/uid.txt":              {tar.TypeReg, 0o644, 1000, 1000, "1000\n", ""},
		"/work/pwd.txt":              {tar.TypeReg, 0o644, 1000, 1000, "/work\n", ""},
		"/work":                      {tar.TypeDir, 0o755, 1000, 1000, "", ""},
	}
	for p, w := range wantFiles {
		g, ok := fs[p]
		if !ok {
			t.Errorf("%s: missing", p)
			continue
		}
		if w.Type == tar.TypeSymlink {
			g.Mode = 0o777
		}
		if diff := cmp.Diff(w, g); diff != "" {
			t.Errorf("%s (-want +got):\n%s", p, diff)
		}
	}
	// /data/hard and /data/sub/f are one file: one entry holds it, the other links to it.
	f, hard := fs["/data/sub/f"], fs["/data/hard"]
	if f.Type == tar.TypeLink {
		f, hard = hard, f
	}
	if f.Type != tar.TypeReg || f.Content != "data\n" || f.Mode != 0o4750 || hard.Type != tar.TypeLink {
		t.Errorf("hardlinked pair: %+v and %+v", f, hard)
	}
	for _, p := range []string{"/bin/vi", "/ctx/api.secret", "/ctx/src/debug.log", "/opt/app/cache-listing.txt", "/var/cache/build"} {
		if _, ok := fs[p]; ok {
			t.Errorf("%s should not be in the image", p)
		}
	}
	if _, ok := fs["/bin/sh"]; !ok {
		t.Error("/bin/sh from the base image is missing")
	}
}

func TestReproducible(t *testing.T) {
	h := newHarness(t, snapshot.Auto)
	dir := writeContext(t, map[string]string{
		// The RUN step stamps a file with the time in the context's stamp
		// (bound, not copied): the test's clock for what a RUN writes,
		// later than the epoch and different in each build, as a wall
		// clock would be.
		"Dockerfile": "ARG BASE\nFROM $BASE\nCOPY app.txt /app/\nRUN --mount=type=bind,source=stamp,target=/stamp touch -d \"$(cat /stamp)\" /app/stamped && echo built > /app/built && mkdir -p /var/lib/x\nENV A=b\n",
		"app.txt":    "app\n",
	})
	epoch := time.Unix(1700000000, 0).UTC()
	clock := epoch.Add(24 * time.Hour)
	var digests []v1.Hash
	for i := 0; i < 2; i++ {
		clock = clock.Add(time.Duration(i+1) * time.Hour)
		if err := os.WriteFile(filepath.Join(dir, "stamp"), []byte(clock.Format("2006-01-02 15:04:05")), 0o644); err != nil {
			t.Fatal(err)
		}
		opts := h.options(dir, map[string]string{"BASE": h.env.BaseImage()})
		opts.Cache, opts.Epoch = nil, &epoch
		// A fresh store each time: nothing is shared between the two builds.
		store, err := snapshot.OpenStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		opts.Store = store
		res, _ := h.build(t, opts)
		d, err := res.Image.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
		os.Chtimes(filepath.Join(dir, "app.txt"), clock, clock) // a fresh checkout
	}
	if digests[0] != digests[1] {
		t.Errorf("two reproducible builds differ: %v", digests)
	}
}

func TestNoChangeRebuild(t *testing.T) {
	h := newHarness(t, snapshot.Auto)
	dir := writeContext(t, map[string]string{
		"Dockerfile": "ARG BASE\nFROM $BASE AS build\nWORKDIR /src\nCOPY . .\nRUN cat *.txt > all\nFROM $BASE\nCOPY --from=build /src/all /all\nRUN echo done > /done\nLABEL x=y\n",
		"a.txt":      "a\n", "b.txt": "b\n",
	})
	tag, err := name.NewTag(h.env.Repo(t, "rebuild") + ":latest")
	if err != nil {
		t.Fatal(err)
	}
	first, _ := h.build(t, h.options(dir, map[string]string{"BASE": h.env.BaseImage()}))
	if first.Cached != 0 {
		t.Errorf("cold build had %d cache hits", first.Cached)
	}
	_, pushed := h.pushTo(t, first.Image, tag)
	if !pushed.Pushed {
		t.Error("first push sent nothing")
	}
	second, events := h.build(t, h.options(dir, map[string]string{"BASE": h.env.BaseImage()}))
	if second.Cached != second.Steps || second.Steps != 5 {
		t.Errorf("rebuild: %d of %d steps cached, want 5 of 5", second.Cached, second.Steps)
	}
	for _, e := range events {
		if e.Kind == StepStarted {
			t.Errorf("step ran on a no-change rebuild: %s", e.Instruction)
		}
	}
	_, again := h.pushTo(t, second.Image, tag)
	if again.Pushed || again.Digest != pushed.Digest {
		t.Errorf("no-change rebuild pushed %v (digest %s, first %s)", again.Pushed, again.Digest, pushed.Digest)
	}
	// A change in the context reruns only what depends on it.
	if err := os.WriteFile(filepath.Join(dir, "b.txt"), []byte("B\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	third, _ := h.build(t, h.options(dir, map[string]string{"BASE": h.env.BaseImage()}))
	if third.Cached != 1 { // WORKDIR only
		t.Errorf("after a change: %d cached, want 1", third.Cached)
	}
	fs := flatten(t, third.Image)
	if got := fs["/all"].Content; got != "a\nB\n" {
		t.Errorf("/all = %q", got)
	}
}

func ExampleEvent() {
	e := Event{Kind: StepCached, Stage: "build", Step: 2, Steps: 5, Line: 3, Instruction: "COPY . ."}
	fmt.Printf("[%s %d/%d] %s (line %d)\n", e.Stage, e.Step, e.Steps, e.Instruction, e.Line)
	// Output: [build 2/5] COPY . . (line 3)
}

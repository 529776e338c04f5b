package cluster

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel != "." && !fi.IsDir() {
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// The stream carries the job, the Dockerfile, the ignore file in effect
// and the context minus what it excludes; modes, times and symlinks
// survive, and the pod's side unpacks exactly that.
func TestStreamRoundTrip(t *testing.T) {
	ctxDir := t.TempDir()
	writeTree(t, ctxDir, map[string]string{
		"Dockerfile":        "FROM scratch\nCOPY . /\n",
		".dockerignore":     "*.secret\nbuild/\n!build/keep.txt\n",
		"src/main.go":       "package main\n",
		"token.secret":      "s3cr3t",
		"build/out.bin":     "big",
		"build/keep.txt":    "kept",
		"docs/sub/note.txt": "note",
	})
	if err := os.Chmod(filepath.Join(ctxDir, "src/main.go"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("src/main.go", filepath.Join(ctxDir, "link")); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(ctxDir, "docs/sub/note.txt"), old, old); err != nil {
		t.Fatal(err)
	}
	job := Job{Ref: "127.0.0.1:5000/app:v1", BuildArgs: map[string]string{"A": "1"}, Push: true}
	var buf bytes.Buffer
	up, err := writeStream(context.Background(), &buf, job, ctxDir, filepath.Join(ctxDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte("s3cr3t")) || bytes.Contains(buf.Bytes(), []byte("big")) {
		t.Error("the stream carries files .dockerignore excludes")
	}
	dir := t.TempDir()
	got, err := readStream(&buf, dir)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(job, got.job); d != "" {
		t.Errorf("job (-sent +received):\n%s", d)
	}
	want := []string{".dockerignore", "Dockerfile", "build/keep.txt", "docs/sub/note.txt", "link", "src/main.go"}
	if d := cmp.Diff(want, listTree(t, got.context)); d != "" {
		t.Errorf("context (-want +got):\n%s", d)
	}
	if up.Files != 5 {
		t.Errorf("Upload.Files = %d, want 5 regular files", up.Files)
	}
	if fi, err := os.Stat(filepath.Join(got.context, "src/main.go")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("src/main.go: %v, mode %v; want 0755", err, fi.Mode())
	}
	if fi, err := os.Stat(filepath.Join(got.context, "docs/sub/note.txt")); err != nil || !fi.ModTime().Equal(old) {
		t.Errorf("docs/sub/note.txt's time is %v, want %v", fi.ModTime(), old)
	}
	if l, err := os.Readlink(filepath.Join(got.context, "link")); err != nil || l != "src/main.go" {
		t.Errorf("link -> %q (%v), want src/main.go", l, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, IgnoreFile)); err != nil || !strings.Contains(string(b), "*.secret") {
		t.Errorf("the ignore file in effect did not come along: %q %v", b, err)
	}
}

// Only what the stages the target needs read goes into the pod: COPY and
// ADD sources (after ARG expansion, patterns matched as the builder
// matches them), RUN bind-mount sources and the targets of symlinks among
// them, minus what .dockerignore excludes; a Dockerfile that does not parse
// sends the whole context, for the pod's builder to report on.
func TestStreamSendsOnlyWhatTheBuildReads(t *testing.T) {
	ctxDir := t.TempDir()
	writeTree(t, ctxDir, map[string]string{
		"Dockerfile": "FROM scratch AS unused\nCOPY unused/ /u/\n" +
			"FROM scratch AS base\nARG DIR=src\nCOPY ${DIR}/main.go /app/\nCOPY conf/*.yaml /etc/\nCOPY link.txt /l\n" +
			"FROM base\nRUN --mount=type=bind,source=tools,target=/t true\n",
		".dockerignore":    "conf/secret.yaml\n",
		"src/main.go":      "package main\n",
		"src/other.go":     "package other\n",
		"conf/a.yaml":      "a: 1\n",
		"conf/b.json":      "{}\n",
		"conf/secret.yaml": "token: s3cr3t\n",
		"conf/sub/c.yaml":  "c: 1\n",
		"data/real.txt":    "real\n",
		"data/more.txt":    "more\n",
		"tools/x.sh":       "echo\n",
		"unused/u.txt":     "u\n",
		"docs/readme.md":   "docs\n",
	})
	if err := os.Symlink("data/real.txt", filepath.Join(ctxDir, "link.txt")); err != nil {
		t.Fatal(err)
	}
	sent := func(t *testing.T, job Job) []string {
		t.Helper()
		var buf bytes.Buffer
		if _, err := writeStream(context.Background(), &buf, job, ctxDir, filepath.Join(ctxDir, "Dockerfile")); err != nil {
			t.Fatal(err)
		}
		got, err := readStream(&buf, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return listTree(t, got.context)
	}
	want := []string{"conf/a.yaml", "data/real.txt", "link.txt", "src/main.go", "tools/x.sh"}
	if d := cmp.Diff(want, sent(t, Job{})); d != "" {
		t.Errorf("sent (-want +got):\n%s", d)
	}
	// A build arg changes what COPY ${DIR} names, as it does in the build
	// (docs/main.go does not exist: nothing of docs/ or src/ goes).
	want = []string{"conf/a.yaml", "data/real.txt", "link.txt", "tools/x.sh"}
	if d := cmp.Diff(want, sent(t, Job{BuildArgs: map[string]string{"DIR": "docs"}})); d != "" {
		t.Errorf("sent with DIR=docs (-want +got):\n%s", d)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM scratch\nCOPY --bogus src /\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	all := sent(t, Job{})
	if !slices.Contains(all, "docs/readme.md") || !slices.Contains(all, "unused/u.txt") || slices.Contains(all, "conf/secret.yaml") {
		t.Errorf("a Dockerfile that does not parse should send the whole context minus .dockerignore: %v", all)
	}
}

func tarOf(t testing.TB, entries ...tar.Header) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		h := h
		data := ""
		if h.Typeflag == tar.TypeReg {
			data = h.Gname // the content rides in Gname in these tests
			h.Gname, h.Size = "", int64(len(data))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A stream cannot write outside the job's directory: not by name, not
// through a symlink it made, not with a device node.
func TestReadStreamRefusesEscapes(t *testing.T) {
	job := tar.Header{Name: JobFile, Typeflag: tar.TypeReg, Gname: `{"ref":"r/a:b"}`}
	df := tar.Header{Name: DockerfileName, Typeflag: tar.TypeReg, Gname: "FROM scratch\n"}
	cd := tar.Header{Name: ContextDir + "/", Typeflag: tar.TypeDir, Mode: 0o755}
	for name, entries := range map[string][]tar.Header{
		"dotdot":          {job, df, cd, {Name: "context/../../x", Typeflag: tar.TypeReg, Gname: "x"}},
		"absolute":        {job, df, cd, {Name: "/etc/x", Typeflag: tar.TypeReg, Gname: "x"}},
		"through symlink": {job, df, cd, {Name: "context/l", Typeflag: tar.TypeSymlink, Linkname: "/tmp"}, {Name: "context/l/x", Typeflag: tar.TypeReg, Gname: "x"}},
		"device":          {job, df, cd, {Name: "context/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}},
		"no job first":    {df, job, cd},
		"other names":     {job, df, cd, {Name: "cache/x", Typeflag: tar.TypeReg, Gname: "x"}},
		"no context":      {job, df},
	} {
		t.Run(name, func(t *testing.T) {
			outside := t.TempDir()
			dir := filepath.Join(outside, "job")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if _, err := readStream(bytes.NewReader(tarOf(t, entries...)), dir); err == nil {
				t.Fatal("readStream accepted it")
			}
			if _, err := os.Stat(filepath.Join(outside, "x")); err == nil {
				t.Error("a file was written outside the job's directory")
			}
		})
	}
}

// go test -fuzz=FuzzReadStream ./internal/build/cluster: whatever the
// stream, nothing is written outside the directory and nothing panics.
func FuzzReadStream(f *testing.F) {
	job := tar.Header{Name: JobFile, Typeflag: tar.TypeReg, Gname: `{"ref":"r/a:b"}`}
	df := tar.Header{Name: DockerfileName, Typeflag: tar.TypeReg, Gname: "FROM scratch\n"}
	f.Add(tarOf(f, job, df, tar.Header{Name: "context/", Typeflag: tar.TypeDir, Mode: 0o755}, tar.Header{Name: "context/a", Typeflag: tar.TypeReg, Gname: "a"}))
	f.Add(tarOf(f, job, df, tar.Header{Name: "context/l", Typeflag: tar.TypeSymlink, Linkname: ".."}, tar.Header{Name: "context/l/x", Typeflag: tar.TypeReg, Gname: "x"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		outside := t.TempDir()
		dir := filepath.Join(outside, "job")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		_, _ = readStream(bytes.NewReader(data), dir)
		ents, err := os.ReadDir(outside)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 1 {
			t.Fatalf("%d entries beside the job's directory", len(ents)-1)
		}
	})
}

package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// protectPaths is the Protect function of a set of host paths.
func protectPaths(paths ...string) func(string) Protection {
	return func(p string) Protection {
		for _, q := range paths {
			if p == q || strings.HasPrefix(p, q+"/") {
				return Protected
			}
			if strings.HasPrefix(q, p+"/") {
				return ContainsProtected
			}
		}
		return Unprotected
	}
}

// TestExtractProtect extracts layers into a root holding protected files
// (container mode's case: the container's mounts and skiff's own files)
// and checks that no entry, whiteout, opaque directory, symlink or
// hardlink reaches them, while everything else is extracted.
func TestExtractProtect(t *testing.T) {
	root := t.TempDir()
	write := func(rel, body string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("etc/hosts", "runtime hosts")
	write("skiff/bin/skiff", "binary")
	write("workspace/src/main.go", "context")
	write("etc/old", "old")
	write("opt/old", "old")
	protect := protectPaths(filepath.Join(root, "etc/hosts"), filepath.Join(root, "skiff/bin/skiff"), filepath.Join(root, "workspace"))
	layers := [][]byte{
		mktar(t,
			entry{name: "etc/"},
			entry{name: "etc/hosts", body: "image hosts"},
			entry{name: "etc/passwd", body: "root:x:0:0::/root:/bin/sh\n"},
			entry{name: "skiff", body: "a file where skiff's directory is"},
			entry{name: "w", typ: tar.TypeSymlink, link: "/workspace"},
			entry{name: "w/planted", body: "through a symlink"},
			entry{name: "workspace/src/main.go", body: "overwritten"},
			entry{name: "link", typ: tar.TypeLink, link: "skiff/bin/skiff"},
		),
		mktar(t,
			entry{name: ".wh.skiff"},
			entry{name: "etc/.wh..wh..opq"},
			entry{name: "etc/group", body: "root:x:0:\n"},
			entry{name: ".wh.workspace"},
			entry{name: "opt/.wh.old"},
		),
	}
	for i, l := range layers {
		if _, err := Extract(context.Background(), bytes.NewReader(l), root, ExtractOptions{Protect: protect}); err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
	}
	want := map[string]string{
		"etc/hosts":             "runtime hosts",
		"skiff/bin/skiff":       "binary",
		"workspace/src/main.go": "context",
		"etc/group":             "root:x:0:\n",
	}
	for rel, body := range want {
		if b, err := os.ReadFile(filepath.Join(root, rel)); err != nil || string(b) != body {
			t.Errorf("%s = %q, %v; want %q", rel, b, err, body)
		}
	}
	for _, gone := range []string{"etc/passwd", "etc/old", "opt/old", "workspace/planted", "link"} {
		if _, err := os.Lstat(filepath.Join(root, gone)); err == nil {
			t.Errorf("%s exists", gone)
		}
	}
	if fi, err := os.Lstat(filepath.Join(root, "w")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symlink itself is not protected and should exist: %v", err)
	}
}

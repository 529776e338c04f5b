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

// decodeEntries turns fuzz input into tar entries: records separated by
// "\n", fields by "|": type, name, link or body. "OUTSIDE" in a name or
// link becomes the absolute path of a directory that must stay untouched.
func decodeEntries(data []byte, outside string) []entry {
	var out []entry
	for _, rec := range strings.Split(string(data), "\n") {
		f := strings.SplitN(rec, "|", 3)
		if len(f) < 2 || f[1] == "" {
			continue
		}
		e := entry{name: strings.ReplaceAll(f[1], "OUTSIDE", outside)}
		arg := ""
		if len(f) == 3 {
			arg = strings.ReplaceAll(f[2], "OUTSIDE", outside)
		}
		switch f[0] {
		case "d":
			e.typ = tar.TypeDir
		case "l":
			e.typ, e.link = tar.TypeSymlink, arg
		case "h":
			e.typ, e.link = tar.TypeLink, arg
		case "p":
			e.typ = tar.TypeFifo
		default:
			e.typ, e.body = tar.TypeReg, arg
		}
		out = append(out, e)
	}
	return out
}

func FuzzExtract(f *testing.F) {
	seeds := []string{
		"f|a|x\nd|b/\nl|c|/etc\nf|c/passwd|pwned",
		"l|evil|OUTSIDE\nf|evil/pwned|x",
		"l|evil|OUTSIDE\nd|evil/sub/\nf|evil/sub/f|x",
		"l|up|../../../..\nf|up/pwned|x\nh|hl|up/pwned",
		"f|../x|x",
		"f|a/../../x|x",
		"h|h|../../../etc/passwd",
		"l|l|OUTSIDE/file\nf|l|replace",
		"l|l|OUTSIDE\nf|l/.wh.x|",
		"f|.wh..wh..opq|\nf|d/.wh..|\nf|.wh.OUTSIDE|",
		"l|a|.\nl|a/b|..\nf|a/b/a/b/c|x",
		"d|x/\nl|x/y|/\nh|x/z|x/y\nf|x/y/z|x",
		"l|loop|loop\nf|loop/x|y",
		"f|/abs/path|x\nd|./\nf|./.|x",
		"p|fifo|\nf|fifo|x",
	}
	for _, s := range seeds {
		f.Add([]byte(s), false, "")
		f.Add([]byte(s), true, "opt/app")
	}
	f.Fuzz(func(t *testing.T, data []byte, overlay bool, prefix string) {
		base := t.TempDir()
		root := filepath.Join(base, "root")
		outside := filepath.Join(base, "outside")
		for _, d := range []string{root, outside} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(outside, "file"), []byte("host"), 0o644); err != nil {
			t.Fatal(err)
		}
		entries := decodeEntries(data, outside)
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, e := range entries {
			hdr := &tar.Header{Typeflag: e.typ, Name: e.name, Linkname: e.link, Mode: 0o755, Size: int64(len(e.body))}
			if tw.WriteHeader(hdr) != nil {
				return // names tar cannot encode
			}
			_, _ = tw.Write([]byte(e.body))
		}
		_ = tw.Close()
		mode := ApplyWhiteouts
		if overlay {
			mode = OverlayWhiteouts
		}
		opts := ExtractOptions{Whiteouts: mode, Prefix: prefix, SkipOwnership: os.Geteuid() != 0}
		if _, err := clean(prefix); err != nil {
			opts.Prefix = ""
		}
		_, _ = Extract(context.Background(), bytes.NewReader(buf.Bytes()), root, opts)

		ents, err := os.ReadDir(base)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 2 {
			t.Fatalf("entries appeared next to the root: %v", ents)
		}
		got, err := os.ReadDir(outside)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Name() != "file" {
			t.Fatalf("outside directory changed: %v", got)
		}
		if b, err := os.ReadFile(filepath.Join(outside, "file")); err != nil || string(b) != "host" {
			t.Fatalf("outside file changed: %q %v", b, err)
		}
		if fi, err := os.Lstat(outside); err != nil || fi.Mode().Perm() != 0o755 {
			t.Fatalf("outside directory metadata changed: %v %v", fi, err)
		}
	})
}

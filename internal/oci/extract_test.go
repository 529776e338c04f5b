package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"github.com/skiff-dev/skiff/internal/testenv"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// entry is a compact tar entry description for tests.
type entry struct {
	name, link, body string
	typ              byte
	mode             int64
	uid, gid         int
	xattrs           map[string]string
}

func mktar(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
			if strings.HasSuffix(e.name, "/") {
				typ = tar.TypeDir
			}
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
			if typ == tar.TypeDir {
				mode = 0o755
			}
		}
		hdr := &tar.Header{Typeflag: typ, Name: e.name, Linkname: e.link, Mode: mode, Uid: e.uid, Gid: e.gid,
			ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if len(e.xattrs) > 0 {
			hdr.PAXRecords = map[string]string{}
			for k, v := range e.xattrs {
				hdr.PAXRecords["SCHILY.xattr."+k] = v
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tree describes a directory as "path type mode uid:gid [content|target]".
func tree(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		line := rel + " " + fi.Mode().String() + " " + strconv.Itoa(int(st.Uid)) + ":" + strconv.Itoa(int(st.Gid))
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			line += " -> " + l
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			line += " " + string(b)
		case fi.Mode()&fs.ModeCharDevice != 0:
			line += " dev=" + strconv.Itoa(int(unix.Major(st.Rdev))) + "," + strconv.Itoa(int(unix.Minor(st.Rdev)))
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// sandboxDirs returns a root to extract into and a sibling directory that
// must stay empty, plus a check for it.
func sandboxDirs(t *testing.T) (root, outside string, check func()) {
	t.Helper()
	base := t.TempDir()
	root = filepath.Join(base, "root")
	outside = filepath.Join(base, "outside")
	for _, d := range []string{root, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root, outside, func() {
		t.Helper()
		if got := tree(t, outside); len(got) != 0 {
			t.Errorf("extraction wrote outside the root: %v", got)
		}
		ents, _ := os.ReadDir(base)
		if len(ents) != 2 {
			t.Errorf("extraction created entries next to the root: %v", ents)
		}
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t, "extraction sets owners and creates device nodes")
}

func TestExtract(t *testing.T) {
	requireRoot(t)
	capv2 := string([]byte{1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}) // cap_net_bind_service+ep
	tests := []struct {
		name    string
		pre     []entry // extracted first, in apply mode
		layer   []entry
		mode    WhiteoutMode
		prefix  string
		want    []string
		wantErr string
	}{{
		name: "files dirs links owners modes",
		layer: []entry{
			{name: "etc/", mode: 0o750, uid: 0, gid: 4},
			{name: "etc/conf", body: "x=1", mode: 0o640, uid: 1000, gid: 1000},
			{name: "bin/tool", body: "#!", mode: 0o4755},
			{name: "bin/sh", typ: tar.TypeSymlink, link: "/bin/busybox"},
			{name: "bin/hard", typ: tar.TypeLink, link: "bin/tool"},
			{name: "tmp/", mode: 0o1777},
		},
		want: []string{
			"bin drwxr-xr-x 0:0",
			"bin/hard urwxr-xr-x 0:0 #!",
			"bin/sh Lrwxrwxrwx 0:0 -> /bin/busybox",
			"bin/tool urwxr-xr-x 0:0 #!",
			"etc drwxr-x--- 0:4",
			"etc/conf -rw-r----- 1000:1000 x=1",
			"tmp dtrwxrwxrwx 0:0",
		},
	}, {
		name:    "dot-dot escape",
		layer:   []entry{{name: "../escaped", body: "x"}},
		wantErr: "escapes the root",
	}, {
		name:    "dot-dot in the middle",
		layer:   []entry{{name: "a/../../escaped", body: "x"}},
		wantErr: "escapes the root",
	}, {
		name:    "dot-dot that stays inside is still refused",
		layer:   []entry{{name: "a/../b", body: "x"}},
		wantErr: "contains ..",
	}, {
		name: "relative symlink climbing out resolves inside the root",
		layer: []entry{
			{name: "up", typ: tar.TypeSymlink, link: "../../../../.."},
			{name: "up/pwned", body: "x"},
		},
		want: []string{"pwned -rw-r--r-- 0:0 x", "up Lrwxrwxrwx 0:0 -> ../../../../.."},
	}, {
		name:    "hardlink out of the root",
		layer:   []entry{{name: "h", typ: tar.TypeLink, link: "../../etc/passwd"}},
		wantErr: "outside the root",
	}, {
		name: "whiteouts applied",
		pre: []entry{
			{name: "a", body: "old"}, {name: "d/x", body: "old"}, {name: "d/sub/y", body: "old"}, {name: "keep", body: "k"},
		},
		layer: []entry{
			{name: ".wh.a"}, {name: "d/new", body: "n"}, {name: "d/.wh..wh..opq"},
		},
		want: []string{"d drwxr-xr-x 0:0", "d/new -rw-r--r-- 0:0 n", "keep -rw-r--r-- 0:0 k"},
	}, {
		name:  "whiteouts as overlay entries",
		layer: []entry{{name: ".wh.a"}, {name: "d/.wh..wh..opq"}, {name: "d/f", body: "f"}},
		mode:  OverlayWhiteouts,
		want:  []string{"a Dc--------- 0:0 dev=0,0", "d drwxr-xr-x 0:0", "d/f -rw-r--r-- 0:0 f"},
	}, {
		name:    "whiteout of the parent",
		layer:   []entry{{name: "a/.wh.."}},
		wantErr: "invalid whiteout",
	}, {
		name: "replacing a symlink does not write through it",
		pre:  []entry{{name: "l", typ: tar.TypeSymlink, link: "OUTSIDE/file"}},
		layer: []entry{
			{name: "l", body: "mine"},
		},
		want: []string{"l -rw-r--r-- 0:0 mine"},
	}, {
		name:  "dir replaces file and file replaces dir",
		pre:   []entry{{name: "a", body: "file"}, {name: "b/c", body: "c"}},
		layer: []entry{{name: "a/"}, {name: "b", body: "now a file"}},
		want:  []string{"a drwxr-xr-x 0:0", "b -rw-r--r-- 0:0 now a file"},
	}, {
		name:   "prefix through a symlink stays inside",
		pre:    []entry{{name: "usr/", mode: 0o755}, {name: "opt", typ: tar.TypeSymlink, link: "/usr"}},
		layer:  []entry{{name: "./", mode: 0o700}, {name: "f", body: "x"}},
		prefix: "opt/app",
		want: []string{
			"opt Lrwxrwxrwx 0:0 -> /usr",
			"usr drwxr-xr-x 0:0",
			"usr/app drwx------ 0:0",
			"usr/app/f -rw-r--r-- 0:0 x",
		},
	}, {
		name:  "file capability xattr",
		layer: []entry{{name: "ping", body: "elf", mode: 0o755, xattrs: map[string]string{"security.capability": capv2, "trusted.overlay.opaque": "y"}}},
		want:  []string{"ping -rwxr-xr-x 0:0 elf"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, outside, check := sandboxDirs(t)
			defer check()
			ctx := context.Background()
			for i := range tt.pre {
				tt.pre[i].link = strings.ReplaceAll(tt.pre[i].link, "OUTSIDE", outside)
			}
			for i := range tt.layer {
				tt.layer[i].link = strings.ReplaceAll(tt.layer[i].link, "OUTSIDE", outside)
			}
			if len(tt.pre) > 0 {
				if _, err := Extract(ctx, bytes.NewReader(mktar(t, tt.pre...)), root, ExtractOptions{}); err != nil {
					t.Fatalf("pre-extract: %v", err)
				}
			}
			_, err := Extract(ctx, bytes.NewReader(mktar(t, tt.layer...)), root, ExtractOptions{Whiteouts: tt.mode, Prefix: tt.prefix})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, tree(t, root)); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExtractXattrs(t *testing.T) {
	requireRoot(t)
	root, _, check := sandboxDirs(t)
	defer check()
	capv2 := string([]byte{1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	layer := mktar(t, entry{name: "ping", body: "elf", mode: 0o755, xattrs: map[string]string{
		"security.capability": capv2, "user.note": "hi", "trusted.overlay.opaque": "y"}})
	if _, err := Extract(context.Background(), bytes.NewReader(layer), root, ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "ping")
	buf := make([]byte, 64)
	n, err := unix.Lgetxattr(p, "security.capability", buf)
	if err != nil || string(buf[:n]) != capv2 {
		t.Errorf("security.capability = %q, %v", buf[:n], err)
	}
	n, err = unix.Lgetxattr(p, "user.note", buf)
	if err != nil || string(buf[:n]) != "hi" {
		t.Errorf("user.note = %q, %v", buf[:n], err)
	}
	if _, err := unix.Lgetxattr(p, "trusted.overlay.opaque", buf); !errors.Is(err, unix.ENODATA) {
		t.Errorf("trusted.overlay.opaque from a layer was applied: %v", err)
	}
}

func TestExtractOpaqueOverlayXattr(t *testing.T) {
	requireRoot(t)
	root, _, check := sandboxDirs(t)
	defer check()
	layer := mktar(t, entry{name: "d/.wh..wh..opq"})
	if _, err := Extract(context.Background(), bytes.NewReader(layer), root, ExtractOptions{Whiteouts: OverlayWhiteouts}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(filepath.Join(root, "d"), OverlayOpaqueXattr, buf)
	if err != nil || string(buf[:n]) != "y" {
		t.Errorf("opaque xattr = %q, %v", buf[:n], err)
	}
}

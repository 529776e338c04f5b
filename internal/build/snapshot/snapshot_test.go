package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"github.com/skiff-dev/skiff/internal/testenv"
	"io"
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
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/skiff-dev/skiff/internal/oci"
)

// memLayer is a layer held in memory.
type memLayer []byte

func (m memLayer) DiffID() (v1.Hash, error) {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sha256.Sum256(m))}, nil
}
func (m memLayer) Uncompressed() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(m)), nil }

type ent struct {
	name, body, link string
	typ              byte
}

func mktar(t testing.TB, ents ...ent) memLayer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o644, ModTime: time.Unix(1600000000, 0)}
		switch {
		case e.typ == 0 && strings.HasSuffix(e.name, "/"):
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		case e.typ == 0:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

// tree lists a directory as "path mode uid:gid content|target|dev xattrs".
func tree(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSocket != 0 {
			return nil // sockets are never part of a layer
		}
		st := fi.Sys().(*syscall.Stat_t)
		rel, _ := filepath.Rel(root, p)
		line := fmt.Sprintf("%s %v %d:%d", rel, fi.Mode(), st.Uid, st.Gid)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			line += " -> " + l
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			line += " " + strconv.Quote(string(b)) + " nlink=" + strconv.Itoa(int(st.Nlink))
		case fi.Mode()&fs.ModeDevice != 0:
			line += fmt.Sprintf(" dev=%d,%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		if x, _ := readXattrs(p); len(x) > 0 {
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			line += " xattrs=" + strings.Join(keys, ",")
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// names lists the entries of a layer tar.
func names(t testing.TB, b []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		s := h.Name
		if h.Typeflag == tar.TypeLink {
			s += " link=" + h.Linkname
		}
		out = append(out, s)
	}
}

func kinds(t *testing.T) []Kind {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Both snapshotters must be tested; this machine kind has overlayfs.
	if err := s.OverlaySupported(); err != nil {
		t.Fatalf("overlayfs is unavailable, so the overlay snapshotter cannot be tested: %v", err)
	}
	return []Kind{Overlay, Walk}
}

func TestChange(t *testing.T) {
	testenv.RequireRoot(t, "snapshots need mounts, owners and device nodes")
	capv2 := []byte{1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	base := []memLayer{
		mktar(t, ent{name: "etc/"}, ent{name: "etc/passwd", body: "root:x:0:0::/root:/bin/sh\n"},
			ent{name: "a", body: "a"}, ent{name: "d/"}, ent{name: "d/x", body: "x"}, ent{name: "d/sub/"}, ent{name: "d/sub/y", body: "y"},
			ent{name: "gone/"}, ent{name: "gone/f", body: "f"}, ent{name: "link", typ: tar.TypeSymlink, link: "/etc/passwd"},
			ent{name: "w/"}, ent{name: "w/keep", body: "k"}, ent{name: "w/hidden", body: "h"}, ent{name: "o/"}, ent{name: "o/old", body: "o"}),
		// A base layer with whiteouts: delete w/hidden, make o opaque.
		mktar(t, ent{name: "w/.wh.hidden"}, ent{name: "o/"}, ent{name: "o/.wh..wh..opq"}, ent{name: "o/new", body: "n"}),
	}
	tests := []struct {
		name      string
		change    func(root string) error
		wantNames map[Kind][]string
	}{{
		name:   "nothing",
		change: func(string) error { return nil },
	}, {
		name: "add modify chmod chown",
		change: func(r string) error {
			must(os.WriteFile(filepath.Join(r, "new"), []byte("new"), 0o600))
			must(os.WriteFile(filepath.Join(r, "d/x"), []byte("changed"), 0o644))
			must(os.Chmod(filepath.Join(r, "a"), 0o4755))
			return os.Lchown(filepath.Join(r, "d/sub/y"), 1000, 1000)
		},
		wantNames: map[Kind][]string{
			Overlay: {"a", "d/", "d/sub/", "d/sub/y", "d/x", "new"},
			Walk:    {"a", "d/sub/y", "d/x", "new"},
		},
	}, {
		name: "delete file and tree",
		change: func(r string) error {
			must(os.Remove(filepath.Join(r, "a")))
			return os.RemoveAll(filepath.Join(r, "gone"))
		},
		wantNames: map[Kind][]string{
			Overlay: {".wh.a", ".wh.gone"},
			Walk:    {".wh.a", ".wh.gone"},
		},
	}, {
		name: "delete then recreate directory",
		change: func(r string) error {
			must(os.RemoveAll(filepath.Join(r, "d")))
			must(os.MkdirAll(filepath.Join(r, "d/sub"), 0o700))
			return os.WriteFile(filepath.Join(r, "d/fresh"), []byte("fresh"), 0o644)
		},
	}, {
		name: "delete then recreate file",
		change: func(r string) error {
			must(os.Remove(filepath.Join(r, "a")))
			return os.WriteFile(filepath.Join(r, "a"), []byte("again"), 0o600)
		},
	}, {
		name: "hardlinks symlinks devices fifo socket",
		change: func(r string) error {
			must(os.WriteFile(filepath.Join(r, "h1"), []byte("shared"), 0o644))
			must(os.Link(filepath.Join(r, "h1"), filepath.Join(r, "h2")))
			must(os.Link(filepath.Join(r, "etc/passwd"), filepath.Join(r, "etc/passwd.hard")))
			must(os.Symlink("../etc/passwd", filepath.Join(r, "d/rel")))
			must(os.Remove(filepath.Join(r, "link")))
			must(os.Symlink("/nowhere", filepath.Join(r, "link")))
			must(unix.Mknod(filepath.Join(r, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
			must(unix.Mkfifo(filepath.Join(r, "fifo"), 0o600))
			return unix.Mknod(filepath.Join(r, "sock"), unix.S_IFSOCK|0o600, 0)
		},
	}, {
		name: "file capability",
		change: func(r string) error {
			must(os.WriteFile(filepath.Join(r, "ping"), []byte("elf"), 0o755))
			return unix.Lsetxattr(filepath.Join(r, "ping"), "security.capability", capv2, 0)
		},
	}, {
		name: "write into whited-out and opaque base directories",
		change: func(r string) error {
			if _, err := os.Lstat(filepath.Join(r, "w/hidden")); err == nil {
				return fmt.Errorf("base whiteout not applied")
			}
			if _, err := os.Lstat(filepath.Join(r, "o/old")); err == nil {
				return fmt.Errorf("base opaque directory not applied")
			}
			must(os.WriteFile(filepath.Join(r, "w/hidden"), []byte("back"), 0o644))
			return os.WriteFile(filepath.Join(r, "o/more"), []byte("m"), 0o644)
		},
	}}
	for _, kind := range kinds(t) {
		for _, tt := range tests {
			t.Run(string(kind)+"/"+tt.name, func(t *testing.T) {
				store, err := OpenStore(t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				snap, err := store.New(kind, Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer snap.Close()
				for _, l := range base {
					snap.Append(l)
				}
				var inside []string
				var buf bytes.Buffer
				diff, err := snap.Change(context.Background(), func(root string) error {
					if err := tt.change(root); err != nil {
						return err
					}
					inside = tree(t, root)
					return nil
				}, &buf)
				if err != nil {
					t.Fatal(err)
				}
				if tt.name == "nothing" {
					if diff.Entries != 0 {
						t.Errorf("empty change produced %d entries: %v", diff.Entries, names(t, buf.Bytes()))
					}
					return
				}
				if want := tt.wantNames[kind]; want != nil {
					got := names(t, buf.Bytes())
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("layer entries (-want +got):\n%s", diff)
					}
				}
				// Replaying base layers plus the diff must give what the step saw.
				replay := t.TempDir()
				for _, l := range append(base, memLayer(buf.Bytes())) {
					if _, err := oci.Extract(context.Background(), bytes.NewReader(l), replay, oci.ExtractOptions{Devices: true}); err != nil {
						t.Fatal(err)
					}
				}
				if d := cmp.Diff(inside, tree(t, replay)); d != "" {
					t.Errorf("base + layer differs from what the step left (-step +replay):\n%s", d)
				}
				// The layer is now on the stack: a view shows the same files.
				if err := snap.View(context.Background(), func(root string) error {
					if d := cmp.Diff(inside, tree(t, root)); d != "" {
						t.Errorf("view after change (-step +view):\n%s", d)
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func TestChangeReproducible(t *testing.T) {
	testenv.RequireRoot(t, "snapshots need mounts, owners and device nodes")
	epoch := time.Unix(0, 0)
	for _, kind := range kinds(t) {
		t.Run(string(kind), func(t *testing.T) {
			var ids []v1.Hash
			for i := 0; i < 2; i++ {
				store, _ := OpenStore(t.TempDir())
				snap, _ := store.New(kind, Options{Epoch: &epoch})
				snap.Append(mktar(t, ent{name: "etc/"}, ent{name: "etc/hosts", body: "h"}))
				// The two runs leave different modification times (an hour
				// apart); the fixed epoch must make the layers identical.
				when := time.Now().Add(time.Duration(i) * time.Hour)
				diff, err := snap.Change(context.Background(), func(r string) error {
					must(os.WriteFile(filepath.Join(r, "etc/new"), []byte("n"), 0o644))
					must(os.Remove(filepath.Join(r, "etc/hosts")))
					must(os.Chtimes(filepath.Join(r, "etc/new"), when, when))
					return os.Chtimes(filepath.Join(r, "etc"), when, when)
				}, io.Discard)
				if err != nil {
					t.Fatal(err)
				}
				snap.Close()
				ids = append(ids, diff.DiffID)
			}
			if ids[0] != ids[1] {
				t.Errorf("diff IDs differ with a fixed epoch: %v", ids)
			}
		})
	}
}

// lyingLayer claims another layer's diff ID.
type lyingLayer struct {
	memLayer
	claim v1.Hash
}

func (l lyingLayer) DiffID() (v1.Hash, error) { return l.claim, nil }

func TestStoreRefusesWrongDiffID(t *testing.T) {
	testenv.RequireRoot(t, "snapshots need mounts, owners and device nodes")
	store, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	honest := mktar(t, ent{name: "etc/passwd", body: "root"})
	claim, _ := honest.DiffID()
	evil := lyingLayer{mktar(t, ent{name: "etc/passwd", body: "evil"}), claim}
	if _, err := store.Dir(context.Background(), evil); err == nil || !strings.Contains(err.Error(), "not the sha256:") {
		t.Fatalf("err = %v, want a diff ID mismatch", err)
	}
	if store.Has(claim) {
		t.Fatal("the lying layer was stored under the honest layer's diff ID")
	}
	dir, err := store.Dir(context.Background(), honest)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "etc/passwd")); string(b) != "root" {
		t.Errorf("content = %q", b)
	}
}

func TestLegacyMountPath(t *testing.T) {
	testenv.RequireRoot(t, "snapshots need mounts, owners and device nodes")
	legacyMountOnly = true
	defer func() { legacyMountOnly = false }()
	store, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.OverlaySupported(); err != nil {
		t.Fatalf("overlayfs is unavailable, but this machine kind has it: %v", err)
	}
	snap, _ := store.New(Overlay, Options{})
	defer snap.Close()
	for i := 0; i < 5; i++ {
		snap.Append(mktar(t, ent{name: fmt.Sprintf("layer%d", i), body: "x"}))
	}
	_, err = snap.Change(context.Background(), func(root string) error {
		for i := 0; i < 5; i++ {
			if _, err := os.Stat(filepath.Join(root, fmt.Sprintf("layer%d", i))); err != nil {
				return err
			}
		}
		return os.WriteFile(filepath.Join(root, "new"), nil, 0o644)
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
}

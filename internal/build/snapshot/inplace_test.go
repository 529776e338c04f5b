package snapshot

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/skiff-dev/skiff/internal/testenv"
)

// steps are build steps as functions of the root filesystem; the in-place
// snapshotter must record exactly the layers overlayfs records for them.
var paritySteps = []struct {
	name string
	fn   func(root string) error
}{
	{"add and modify", func(r string) error {
		return errorsOf(os.WriteFile(filepath.Join(r, "etc/new"), []byte("new"), 0o644),
			os.WriteFile(filepath.Join(r, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\napp:x:1:1::/:/bin/sh\n"), 0o644))
	}},
	{"modify deep file only", func(r string) error {
		return os.WriteFile(filepath.Join(r, "usr/share/doc/readme"), []byte("changed"), 0o644)
	}},
	{"delete file and directory", func(r string) error {
		return errorsOf(os.Remove(filepath.Join(r, "a/file")), os.RemoveAll(filepath.Join(r, "b")))
	}},
	{"replace directory", func(r string) error {
		return errorsOf(os.RemoveAll(filepath.Join(r, "c")), os.Mkdir(filepath.Join(r, "c"), 0o750),
			os.WriteFile(filepath.Join(r, "c/x"), []byte("x"), 0o644))
	}},
	{"metadata", func(r string) error {
		return errorsOf(os.Chmod(filepath.Join(r, "etc/passwd"), 0o600), os.Lchown(filepath.Join(r, "a/keep"), 1000, 1000),
			os.Chmod(filepath.Join(r, "usr"), 0o700))
	}},
	{"links", func(r string) error {
		return errorsOf(os.Symlink("/etc/passwd", filepath.Join(r, "lnk")), os.Link(filepath.Join(r, "etc/new"), filepath.Join(r, "etc/hl")))
	}},
	{"delete a file", func(r string) error { return os.Remove(filepath.Join(r, "etc/new")) }},
	{"directory where a lower layer deleted the name", func(r string) error {
		return errorsOf(os.Mkdir(filepath.Join(r, "etc/new"), 0o755), os.WriteFile(filepath.Join(r, "etc/new/f"), nil, 0o644))
	}},
	{"file to directory", func(r string) error {
		return errorsOf(os.Remove(filepath.Join(r, "d")), os.Mkdir(filepath.Join(r, "d"), 0o755), os.WriteFile(filepath.Join(r, "d/y"), []byte("y"), 0o644))
	}},
	{"directory to file", func(r string) error {
		return errorsOf(os.RemoveAll(filepath.Join(r, "e")), os.WriteFile(filepath.Join(r, "e"), []byte("e"), 0o644))
	}},
	{"nothing", func(r string) error { return nil }},
	{"move a new directory", func(r string) error {
		return errorsOf(os.MkdirAll(filepath.Join(r, "m1/sub"), 0o755), os.WriteFile(filepath.Join(r, "m1/sub/f"), nil, 0o644),
			os.Rename(filepath.Join(r, "m1"), filepath.Join(r, "m2")))
	}},
	{"after the move", func(r string) error { return os.WriteFile(filepath.Join(r, "m2/sub/f"), []byte("x"), 0o644) }},
	{"delete at the root", func(r string) error { return os.Remove(filepath.Join(r, "rootfile")) }},
}

// movingSteps rename a directory, which overlayfs records as opaque: only
// inotify's events show a rename, so after a walk the layer holds the same
// files without the opaque marker.
var movingSteps = map[string]bool{"move a new directory": true}

var nlinkRe = regexp.MustCompile(` nlink=[0-9]+`)

func errorsOf(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func parityBase(t *testing.T) []Layer {
	return []Layer{
		mktar(t, ent{name: "etc/"}, ent{name: "etc/passwd", body: "root:x:0:0::/root:/bin/sh\n"}, ent{name: "a/"}, ent{name: "a/file", body: "f"},
			ent{name: "a/keep", body: "k"}, ent{name: "b/"}, ent{name: "b/sub/"}, ent{name: "b/sub/f", body: "f"}, ent{name: "c/"}, ent{name: "c/old", body: "o"},
			ent{name: "usr/"}, ent{name: "usr/share/"}, ent{name: "usr/share/doc/"}, ent{name: "usr/share/doc/readme", body: "r"},
			ent{name: "d", body: "file d"}, ent{name: "e/"}, ent{name: "e/z", body: "z"}, ent{name: "rootfile", body: "r"}, ent{name: "gone", body: "g"}),
		mktar(t, ent{name: ".wh.gone"}),
	}
}

// TestInPlaceMatchesOverlay runs the same steps with the overlay
// snapshotter and in place (in a tree that also holds protected files),
// finding changes from inotify events and by walking the whole tree, and
// compares the layers byte for byte: the same image comes out.
func TestInPlaceMatchesOverlay(t *testing.T) {
	for _, walk := range []bool{false, true} {
		name := "events"
		if walk {
			name = "walk"
		}
		t.Run(name, func(t *testing.T) { testInPlaceMatchesOverlay(t, walk) })
	}
}

func testInPlaceMatchesOverlay(t *testing.T, walk bool) {
	testenv.RequireRoot(t, "overlay mounts and file owners")
	epoch := time.Unix(1650000000, 0)
	opts := Options{Epoch: &epoch}
	run := func(snap Snapshotter) []memLayer {
		for _, l := range parityBase(t) {
			snap.Append(l)
		}
		var out []memLayer
		for _, s := range paritySteps {
			var buf bytes.Buffer
			if _, err := snap.Change(context.Background(), s.fn, &buf); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			out = append(out, buf.Bytes())
		}
		return out
	}
	store, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ov, err := store.New(Overlay, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer ov.Close()
	want := run(ov)

	dir := t.TempDir()
	own := filepath.Join(dir, "skiff/bin/skiff")
	mnt := filepath.Join(dir, "etc/hosts")
	for _, p := range []string{own, mnt} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("protected"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tr := store.NewTree(dir, NewProtected(own, mnt))
	tr.noWatch = walk
	ip := tr.New(opts)
	defer ip.Close()
	got := run(ip)
	if !walk && tr.watch == nil {
		t.Error("the tree is not watched")
	}
	for i := range paritySteps {
		if walk && movingSteps[paritySteps[i].name] {
			continue
		}
		if d := cmp.Diff(names(t, want[i]), names(t, got[i])); d != "" {
			t.Errorf("step %q: entries differ (-overlay +in place):\n%s", paritySteps[i].name, d)
			continue
		}
		wd, _ := want[i].DiffID()
		gd, _ := got[i].DiffID()
		if wd != gd {
			t.Errorf("step %q: same entries, different bytes", paritySteps[i].name)
		}
	}
	for _, p := range []string{own, mnt} {
		if b, err := os.ReadFile(p); err != nil || string(b) != "protected" {
			t.Errorf("%s: %q %v", p, b, err)
		}
	}
	// The tree holds the stack's files, and views of it see them.
	var merged []string
	if err := ov.View(context.Background(), func(root string) error { merged = tree(t, root); return nil }); err != nil {
		t.Fatal(err)
	}
	var inTree []string
	if err := ip.View(context.Background(), func(root string) error { inTree = tree(t, root); return nil }); err != nil {
		t.Fatal(err)
	}
	// Only the protected files (and the directories holding them) differ.
	if d := cmp.Diff(withoutProtected(merged), withoutProtected(inTree)); d != "" {
		t.Errorf("files (-overlay +in place):\n%s", d)
	}
}

// withoutProtected drops the protected files and link counts (a lower
// overlayfs layer keeps counting a name a later layer deleted).
func withoutProtected(lines []string) []string {
	var out []string
	for _, l := range lines {
		l = nlinkRe.ReplaceAllString(l, "")
		switch {
		case len(l) >= 5 && l[:5] == "skiff", len(l) >= 9 && l[:9] == "etc/hosts":
			continue
		}
		out = append(out, l)
	}
	return out
}

package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// baseOf is a layer of n small files, 100 to a directory, two levels deep.
func baseOf(b *testing.B, n int) memLayer {
	b.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Unix(1600000000, 0)
	dirs := map[string]bool{}
	for i := range n {
		dir := fmt.Sprintf("usr/d%03d/e%03d", i/10000, (i/100)%100)
		for d := dir; d != "." && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
		}
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("%s/f%05d", dir, i), Typeflag: tar.TypeReg, Mode: 0o644, Size: 8, ModTime: mt}); err != nil {
			b.Fatal(err)
		}
		tw.Write([]byte("contents"))
	}
	for d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mt}); err != nil {
			b.Fatal(err)
		}
	}
	tw.Close()
	return buf.Bytes()
}

// BenchmarkInPlaceSnapshot measures container mode's snapshot of a step
// that changes one file, on bases of 1,000 and 100,000 files: finding the
// change (inotify events; inplace-walk: a walk of the whole tree, the
// fallback when events overflow), comparing and writing the layer.
// hack/bench/container.sh reports it in BENCHMARKS.md, with the walk
// snapshotter (the fallback of the other modes) for contrast.
func BenchmarkInPlaceSnapshot(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		base := baseOf(b, n)
		for _, kind := range []string{"inplace", "inplace-walk", "walk"} {
			b.Run(fmt.Sprintf("%s/files=%d", kind, n), func(b *testing.B) {
				store, err := OpenStore(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				var snap Snapshotter
				if kind != "walk" {
					tr := store.NewTree(b.TempDir(), NewProtected())
					tr.noWatch = kind == "inplace-walk"
					snap = tr.New(Options{})
				} else if snap, err = store.New(Walk, Options{}); err != nil {
					b.Fatal(err)
				}
				defer snap.Close()
				snap.Append(base)
				ctx := context.Background()
				// The first step unpacks the base; it is not what is measured.
				if _, err := snap.Change(ctx, func(string) error { return nil }, io.Discard); err != nil {
					b.Fatal(err)
				}
				// In place records the file's parents as overlayfs does; the
				// walk fallback only the file.
				want := 4
				if kind == "walk" {
					want = 1
				}
				i := 0
				b.ResetTimer()
				for b.Loop() {
					i++
					d, err := snap.Change(ctx, func(root string) error {
						return os.WriteFile(filepath.Join(root, "usr/d000/e000/f00000"), []byte(fmt.Sprint(i)), 0o644)
					}, io.Discard)
					if err != nil {
						b.Fatal(err)
					}
					if d.Entries != want {
						b.Fatalf("layer has %d entries, want %d", d.Entries, want)
					}
				}
			})
		}
	}
}

package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestExtractDeviceNodes: a layer's device nodes are only created when the
// caller allows them (finding 2: a c 1:11 entry gave RUN the kernel log).
func TestExtractDeviceNodes(t *testing.T) {
	requireRoot(t)
	layer := []byte(nil)
	{
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range []*tar.Header{
			{Name: "kmsg", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 11, Mode: 0o666},
			{Name: "disk", Typeflag: tar.TypeBlock, Devmajor: 8, Devminor: 0, Mode: 0o666},
			{Name: "fifo", Typeflag: tar.TypeFifo, Mode: 0o644},
		} {
			h.ModTime = time.Unix(1700000000, 0)
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
		}
		tw.Close()
		layer = buf.Bytes()
	}
	for _, allow := range []bool{false, true} {
		root, _, check := sandboxDirs(t)
		if _, err := Extract(context.Background(), bytes.NewReader(layer), root, ExtractOptions{Devices: allow}); err != nil {
			t.Fatal(err)
		}
		got := tree(t, root)
		want := []string{"fifo prw-r--r-- 0:0"}
		if allow {
			want = []string{"disk Drw-rw-rw- 0:0", "fifo prw-r--r-- 0:0", "kmsg Dcrw-rw-rw- 0:0 dev=1,11"}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("devices allowed=%v (-want +got):\n%s", allow, diff)
		}
		check()
	}
}

// TestExtractDirTimesDoNotFollowReplacedParents: directory times are set
// at the end of a layer; an entry that replaced a parent with a symlink to
// a host directory must not make them land on the host (finding 6).
func TestExtractDirTimesDoNotFollowReplacedParents(t *testing.T) {
	requireRoot(t)
	root, outside, check := sandboxDirs(t)
	defer check()
	victim := filepath.Join(outside, "c")
	if err := os.Mkdir(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(victim, old, old); err != nil {
		t.Fatal(err)
	}
	before := tree(t, outside)
	for _, link := range []string{outside, "../outside", "../../../../../../../.." + outside} {
		layer := mktar(t, entry{name: "p/"}, entry{name: "p/c/"}, entry{name: "p", typ: tar.TypeSymlink, link: link})
		if _, err := Extract(context.Background(), bytes.NewReader(layer), root, ExtractOptions{}); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(victim)
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Equal(old) {
			t.Errorf("link %s: the host directory's time changed to %v", link, fi.ModTime())
		}
		if diff := cmp.Diff(before, tree(t, outside)); diff != "" {
			t.Errorf("link %s: host tree changed:\n%s", link, diff)
		}
		if got := tree(t, root); len(got) != 1 || !strings.HasPrefix(got[0], "p Lrwx") {
			t.Errorf("root = %v, want only the symlink", got)
		}
		os.RemoveAll(filepath.Join(root, "p"))
	}
	// the check expects an empty outside: remove what this test put there
	os.RemoveAll(victim)
}

package cache

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-dev/skiff/internal/oci"
)

func TestKeyEncodingIsUnambiguous(t *testing.T) {
	keys := map[Key]string{}
	add := func(name string, k Key) {
		t.Helper()
		if prev, dup := keys[k]; dup {
			t.Errorf("%s and %s have the same key", name, prev)
		}
		keys[k] = name
	}
	add("a|bc", NewKey("RUN").String("x", "a").String("y", "bc").Sum())
	add("ab|c", NewKey("RUN").String("x", "ab").String("y", "c").Sum())
	add("label shift", NewKey("RUN").String("xa", "").String("y", "bc").Sum())
	add("list [a b]", NewKey("RUN").Strings("l", []string{"a", "b"}).Sum())
	add("list [ab]", NewKey("RUN").Strings("l", []string{"ab"}).Sum())
	add("list [a b] as strings", NewKey("RUN").String("l", "a").String("b", "").Sum())
	add("kind COPY", NewKey("COPY").Strings("l", []string{"a", "b"}).Sum())
	add("map", NewKey("RUN").Map("m", map[string]string{"a": "b"}).Sum())
	add("map swapped", NewKey("RUN").Map("m", map[string]string{"b": "a"}).Sum())
	add("empty", NewKey("RUN").Sum())
	parent := NewKey("FROM").String("image", "x@sha256:1").Sum()
	add("with parent", NewKey("RUN").Key("parent", parent).Sum())

	// The same inputs give the same key, whatever the map order.
	forward, backward := map[string]string{}, map[string]string{}
	letters := strings.Split("q w e r t y u i o p", " ")
	for i, k := range letters {
		forward[k] = k + k
		r := letters[len(letters)-1-i]
		backward[r] = r + r
	}
	if NewKey("RUN").Map("m", forward).Sum() != NewKey("RUN").Map("m", backward).Sum() {
		t.Error("map keys are not deterministic")
	}
	if len(NewKey("RUN").Sum().String()) != 64 {
		t.Error("key is not 64 hex digits")
	}
}

func TestLocal(t *testing.T) {
	dir := t.TempDir()
	blobs, err := oci.OpenBlobs(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	local, err := NewLocal(dir, blobs)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	k := NewKey("RUN").String("args", "true").Sum()
	if _, ok, err := local.Get(ctx, k); ok || err != nil {
		t.Fatalf("empty cache: ok=%v err=%v", ok, err)
	}
	bw, err := blobs.Create(oci.Gzip)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(bw, strings.Repeat("x", 10000))
	layer, err := bw.Commit()
	if err != nil {
		t.Fatal(err)
	}
	created := time.Unix(1700000000, 0).UTC()
	if err := local.Put(ctx, k, Entry{Layer: layer, Created: created}); err != nil {
		t.Fatal(err)
	}
	e, ok, err := local.Get(ctx, k)
	if !ok || err != nil || !e.Created.Equal(created) {
		t.Fatalf("get: %+v %v %v", e, ok, err)
	}
	d1, _ := layer.Digest()
	d2, _ := e.Layer.Digest()
	if d1 != d2 {
		t.Errorf("layer digest %s, want %s", d2, d1)
	}
	// An empty step is cached too.
	empty := NewKey("RUN").String("args", "noop").Sum()
	local.Put(ctx, empty, Entry{Created: created})
	if e, ok, _ := local.Get(ctx, empty); !ok || e.Layer != nil {
		t.Errorf("empty entry: %+v %v", e, ok)
	}
}

type fakeCache struct {
	entries map[Key]Entry
	err     error
	puts    int
}

func (f *fakeCache) Get(_ context.Context, k Key) (Entry, bool, error) {
	e, ok := f.entries[k]
	return e, ok, f.err
}

func (f *fakeCache) Put(_ context.Context, k Key, e Entry) error {
	f.puts++
	f.entries[k] = e
	return nil
}

func TestTiered(t *testing.T) {
	k := NewKey("RUN").Sum()
	broken := &fakeCache{entries: map[Key]Entry{}, err: errors.New("registry down")}
	second := &fakeCache{entries: map[Key]Entry{k: {Created: time.Unix(1, 0)}}}
	tiers := Tiered{broken, second}
	e, ok, err := tiers.Get(context.Background(), k)
	if !ok || err != nil || e.Created.Unix() != 1 {
		t.Errorf("a failing tier must not hide a later hit: %+v %v %v", e, ok, err)
	}
	if _, ok, err := tiers.Get(context.Background(), NewKey("COPY").Sum()); ok || err == nil {
		t.Errorf("a miss reports the failing tier's error: ok=%v err=%v", ok, err)
	}
	tiers.Put(context.Background(), k, Entry{})
	if broken.puts != 1 || second.puts != 1 {
		t.Errorf("puts: %d %d", broken.puts, second.puts)
	}
}

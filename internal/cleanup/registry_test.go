package cleanup_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/build/cache"
	"github.com/skiff-dev/skiff/internal/cleanup"
	"github.com/skiff-dev/skiff/internal/gitinfo"
	"github.com/skiff-dev/skiff/internal/manifest"
	"github.com/skiff-dev/skiff/internal/oci"
	"github.com/skiff-dev/skiff/internal/release"
	"github.com/skiff-dev/skiff/internal/testenv"
)

// gitHistory is a repository with a default branch of five commits (the
// first tagged v1.0.0), an unmerged feature branch of three, a merged
// branch, and two commits of a branch that was deleted.
type gitHistory struct {
	master, feature, gone []plumbing.Hash
	history               *gitinfo.History
}

func newGitHistory(t *testing.T, keep int) *gitHistory {
	t.Helper()
	dir := t.TempDir()
	r, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := r.Worktree()
	n := 0
	commit := func() plumbing.Hash {
		n++
		os.WriteFile(filepath.Join(dir, "f"), []byte(fmt.Sprint(n)), 0o644)
		wt.Add("f")
		h, err := wt.Commit(fmt.Sprint("commit ", n), &git.CommitOptions{Author: &object.Signature{Name: "t", Email: "t@example.com", When: time.Unix(1700000000+int64(n)*60, 0)}})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	checkout := func(branch string, from plumbing.Hash) {
		opts := &git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName(branch), Create: !from.IsZero(), Hash: from, Force: true}
		if err := wt.Checkout(opts); err != nil {
			t.Fatal(err)
		}
	}
	g := &gitHistory{}
	for i := 0; i < 5; i++ {
		g.master = append(g.master, commit())
	}
	if _, err := r.CreateTag("v1.0.0", g.master[0], nil); err != nil {
		t.Fatal(err)
	}
	checkout("feature/login", g.master[2])
	for i := 0; i < 3; i++ {
		g.feature = append(g.feature, commit())
	}
	checkout("merged", g.master[3])
	checkout("gone", g.master[4])
	g.gone = append(g.gone, commit(), commit())
	checkout("master", plumbing.ZeroHash)
	if err := r.Storer.RemoveReference(plumbing.NewBranchReferenceName("gone")); err != nil {
		t.Fatal(err)
	}
	repo, err := gitinfo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if g.history, err = repo.History(keep, ""); err != nil {
		t.Fatal(err)
	}
	return g
}

// registryFixture pushes images and their registry cache the way builds
// do: each image with one cache entry and the index naming it.
type registryFixture struct {
	t      *testing.T
	env    *testenv.Env
	client *oci.Client
	repo   name.Repository
	cache  name.Repository
	reg    *cache.Registry
	// digests maps a tag to its image digest; keys maps it to its build's
	// cache key.
	digests map[string]v1.Hash
	keys    map[string]cache.Key
}

func newRegistryFixture(t *testing.T) *registryFixture {
	t.Helper()
	env := testenv.Require(t)
	client := oci.New(oci.Options{})
	repo, err := name.NewRepository(env.Repo(t, "shop"))
	if err != nil {
		t.Fatal(err)
	}
	cacheRepo := repo.Registry.Repo(repo.RepositoryStr() + "/cache")
	return &registryFixture{t: t, env: env, client: client, repo: repo, cache: cacheRepo, reg: cache.NewRegistry(client, cacheRepo),
		digests: map[string]v1.Hash{}, keys: map[string]cache.Key{}}
}

// push builds a random image under tag with a cache entry created age ago
// and its index; with sameAs, tag points at that tag's image instead.
func (f *registryFixture) push(tag, sameAs string, age time.Duration, index bool) {
	f.t.Helper()
	ctx := f.t.Context()
	if sameAs != "" {
		img, err := f.client.Image(ctx, f.repo.Tag(sameAs))
		if err != nil {
			f.t.Fatal(err)
		}
		if _, err := f.client.Push(ctx, f.repo.Tag(tag), img); err != nil {
			f.t.Fatal(err)
		}
		f.digests[tag] = f.digests[sameAs]
		return
	}
	img, err := random.Image(512, 1)
	if err != nil {
		f.t.Fatal(err)
	}
	res, err := f.client.Push(ctx, f.repo.Tag(tag), img)
	if err != nil {
		f.t.Fatal(err)
	}
	f.digests[tag] = res.Digest
	f.keys[tag] = f.entry(tag, age)
	if index {
		if err := f.reg.PutIndex(ctx, res.Digest, []cache.Key{f.keys[tag]}); err != nil {
			f.t.Fatal(err)
		}
	}
}

// entry stores a cache entry with a layer of its own, created age ago.
func (f *registryFixture) entry(seed string, age time.Duration) cache.Key {
	f.t.Helper()
	l, err := random.Layer(256, "application/vnd.oci.image.layer.v1.tar+gzip")
	if err != nil {
		f.t.Fatal(err)
	}
	k := cache.NewKey("RUN").String("seed", seed).Sum()
	if err := f.reg.Put(f.t.Context(), k, cache.Entry{Layer: l, Created: time.Now().Add(-age)}); err != nil {
		f.t.Fatal(err)
	}
	return k
}

// tags lists what each repository holds, sorted.
func (f *registryFixture) tags() map[string][]string {
	f.t.Helper()
	out := map[string][]string{}
	for _, r := range []name.Repository{f.repo, f.cache} {
		tags, err := f.client.ListTags(f.t.Context(), r)
		if err != nil {
			f.t.Fatal(err)
		}
		sort.Strings(tags)
		out[r.String()] = tags
	}
	return out
}

func (f *registryFixture) ref(tag string) string {
	return f.repo.Tag(tag).String() + "@" + f.digests[tag].String()
}

func refs(items []cleanup.RegistryItem) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, it.Ref)
	}
	sort.Strings(out)
	return out
}

func short(h plumbing.Hash) string { return h.String()[:7] }

// TestRegistryKeepsWhatIsNeededAndDeletesTheRest is the cleanup of an
// application's repository and registry cache against a live environment
// (a release record in the sandbox cluster), a release artifact and git
// history.
func TestRegistryKeepsWhatIsNeededAndDeletesTheRest(t *testing.T) {
	f := newRegistryFixture(t)
	g := newGitHistory(t, 2)
	old := 10 * 24 * time.Hour
	keepTags := []string{
		short(g.master[4]),                // newest on the default branch
		"v1.0.0",                          // a git tag
		g.feature[2].String(),             // newest on an unmerged branch (full hash)
		"v1.0.0-3-g" + short(g.master[3]), // describe form, second newest on master
		"latest",                          // names no commit
		short(g.gone[0]),                  // a deleted branch, but a live environment runs it
		short(g.gone[1]),                  // a deleted branch, but a release references it
	}
	dropTags := []string{
		short(g.master[1]),                // older than the last 2 on master
		"v1.0.0-1-g" + short(g.master[1]), // the same commit, describe form
		short(g.feature[0]),               // older than the last 2 of the feature branch
		short(g.master[2]) + "-dirty",     // an old commit, with local changes
	}
	for _, tag := range append(append([]string{}, keepTags...), dropTags...) {
		f.push(tag, "", old, true)
	}
	// A tag that would go but shares its manifest with a kept one stays.
	f.push("deleted-"+short(g.feature[0]), short(g.master[4]), 0, false)
	keepTags = append(keepTags, "deleted-"+short(g.feature[0]))
	orphanOld, orphanNew := f.entry("orphan-old", old), f.entry("orphan-new", time.Minute)

	// A live environment: a revision in the cluster runs gone[0]'s image.
	cfg, err := f.env.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	a, err := apply.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ns := f.env.Namespace(t, "cleanup")
	objs, err := manifest.Parse([]byte(fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: %q}]}
`, f.ref(short(g.gone[0])))), "web.yaml")
	if err != nil {
		t.Fatal(err)
	}
	opts := apply.DefaultOptions()
	opts.App, opts.Namespace, opts.StatusCheckDeadline = "shop", ns, 2*time.Minute
	if _, err := a.Apply(t.Context(), objs, opts); err != nil {
		t.Fatal(err)
	}
	// A release artifact references gone[1]'s image.
	store := &release.Store{Client: f.client}
	releases := f.repo.String() + "/releases"
	pkg := &release.Package{
		Metadata: release.Metadata{App: "shop", Tag: "v0.9.0", Created: time.Now(),
			Environments: []release.EnvironmentInfo{{Name: "production", Namespace: "shop"}}},
		Manifests: map[string][]byte{"production": []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")},
		Artifacts: &artifact.File{Builds: []artifact.Build{{ImageName: "shop", Tag: f.ref(short(g.gone[1]))}}},
	}
	if _, err := store.Push(t.Context(), releases, pkg); err != nil {
		t.Fatal(err)
	}

	needed := cleanup.NewNeeded()
	if err := needed.AddRecords(t.Context(), a.Records(), ns, "shop", "environment review"); err != nil {
		t.Fatal(err)
	}
	if err := needed.AddReleases(t.Context(), store, releases); err != nil {
		t.Fatal(err)
	}
	ropts := cleanup.RegistryOptions{
		Repositories: []cleanup.Repository{{Image: f.repo, Cache: &f.cache, CommitTags: true}},
		Needed:       needed, History: g.history, CacheGrace: 24 * time.Hour, DryRun: true,
	}

	var wantGone []string
	for _, tag := range dropTags {
		wantGone = append(wantGone, f.repo.Tag(tag).String(),
			f.cache.Tag(f.keys[tag].String()).String(), f.cache.Tag(cache.IndexTag(f.digests[tag])).String())
	}
	wantGone = append(wantGone, f.cache.Tag(orphanOld.String()).String())
	sort.Strings(wantGone)

	before := f.tags()
	rep, err := cleanup.Registry(t.Context(), f.client, ropts)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(wantGone, refs(rep.Deleted)); d != "" {
		t.Errorf("dry run: what would go (-want +got):\n%s", d)
	}
	if d := cmp.Diff(before, f.tags()); d != "" {
		t.Fatalf("--dry-run changed the registry (-before +after):\n%s", d)
	}
	for _, it := range rep.Kept {
		t.Logf("kept %s: %s", it.Ref, it.Reason)
	}

	ropts.DryRun = false
	rep, err = cleanup.Registry(t.Context(), f.client, ropts)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(wantGone, refs(rep.Deleted)); d != "" {
		t.Errorf("what went (-want +got):\n%s", d)
	}
	var wantImages, wantCache []string
	for _, tag := range keepTags {
		wantImages = append(wantImages, tag)
		if k, ok := f.keys[tag]; ok {
			wantCache = append(wantCache, k.String(), cache.IndexTag(f.digests[tag]))
		}
	}
	wantCache = append(wantCache, orphanNew.String())
	sort.Strings(wantImages)
	sort.Strings(wantCache)
	got := f.tags()
	if d := cmp.Diff(wantImages, got[f.repo.String()]); d != "" {
		t.Errorf("image tags left (-want +got):\n%s", d)
	}
	if d := cmp.Diff(wantCache, got[f.cache.String()]); d != "" {
		t.Errorf("cache tags left (-want +got):\n%s", d)
	}
	for _, tag := range dropTags {
		if _, err := f.client.Head(t.Context(), f.repo.Digest(f.digests[tag].String())); !errors.Is(err, oci.ErrNotFound) {
			t.Errorf("the manifest of %s is still there: %v", tag, err)
		}
	}
	// What the live environment runs can still be pulled.
	if _, err := f.client.Image(t.Context(), f.repo.Digest(f.digests[short(g.gone[0])].String())); err != nil {
		t.Errorf("the live environment's image: %v", err)
	}
}

// TestRegistryKeepsTheCacheOfImagesWithoutAnIndex: a kept image whose build
// wrote no index (an older skiff) may use any entry, so none goes.
func TestRegistryKeepsTheCacheOfImagesWithoutAnIndex(t *testing.T) {
	f := newRegistryFixture(t)
	g := newGitHistory(t, 1)
	f.push(short(g.master[4]), "", time.Hour, false)
	f.push(short(g.master[0]), "", time.Hour, true) // tagged v1.0.0: kept
	old := f.entry("old", 30*24*time.Hour)
	rep, err := cleanup.Registry(t.Context(), f.client, cleanup.RegistryOptions{
		Repositories: []cleanup.Repository{{Image: f.repo, Cache: &f.cache, CommitTags: true}},
		History:      g.history,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Deleted) != 0 {
		t.Errorf("deleted %v, want nothing", refs(rep.Deleted))
	}
	if ok, err := f.client.Exists(t.Context(), f.cache.Tag(old.String())); !ok || err != nil {
		t.Errorf("an old cache entry went although a kept image has no index: %v %v", ok, err)
	}
}

package cleanup

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/skiff-dev/skiff/internal/build/cache"
	"github.com/skiff-dev/skiff/internal/gitinfo"
	"github.com/skiff-dev/skiff/internal/oci"
)

// Repository is an artifact's image repository and its registry cache.
type Repository struct {
	Image name.Repository
	// Cache is the registry cache repository; nil when there is none.
	Cache *name.Repository
	// CommitTags is true when the artifact's tags name commits (the
	// gitCommit tag policy with the Tags, CommitSha or AbbrevCommitSha
	// variant, and release tags): only then can git history tell which
	// tags are still wanted. Other tags are kept unless a digest rule
	// says otherwise.
	CommitTags bool
}

// RegistryOptions say what `skiff cleanup --registry` keeps.
type RegistryOptions struct {
	Repositories []Repository
	// Needed are the images live environments, release records and
	// release artifacts refer to: always kept.
	Needed *Needed
	// History is what git history still reaches; nil keeps every tag
	// that Needed does not already keep.
	History *gitinfo.History
	// CacheGrace keeps cache entries younger than this even when no kept
	// image's build used them: a build that is still running has stored
	// entries but not yet the image and its index.
	CacheGrace time.Duration
	// DryRun reports what would go and deletes nothing.
	DryRun bool
	// Now is the current time (zero: time.Now).
	Now time.Time
}

// Kinds of registry items.
const (
	KindImage      = "image"       // an image tag
	KindCacheEntry = "cache"       // a registry cache entry (one build step)
	KindCacheIndex = "cache-index" // the list of entries an image's build used
	KindOther      = "other"       // a tag skiff did not write
)

// RegistryItem is one tag and the decision about it.
type RegistryItem struct {
	Kind   string
	Ref    string // repository:tag
	Digest string
	Reason string
}

// RegistryReport is what a registry cleanup deleted (or would delete)
// and what it kept, with reasons.
type RegistryReport struct {
	Deleted, Kept []RegistryItem
	DryRun        bool
}

// parallelism bounds concurrent registry requests.
const parallelism = 8

// Registry deletes, in each repository, the image tags nothing needs and
// the cache entries no kept image's build used. A tag is kept when its
// digest is needed (a live environment, a release record or a release
// artifact), when it is a git tag, when it names a commit git history still
// wants (the newest commits of each branch not merged into the default
// branch, and tagged commits), and whenever it names no commit it can
// place. Registries delete manifests, not tags: a manifest goes only when
// every tag pointing at it goes.
func Registry(ctx context.Context, client *oci.Client, opts RegistryOptions) (*RegistryReport, error) {
	if opts.Needed == nil {
		opts.Needed = NewNeeded()
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	rep := &RegistryReport{DryRun: opts.DryRun}
	keptImages := map[string]map[string]string{} // cache repo → kept image digest → its ref
	cacheRepos := map[string]name.Repository{}
	for _, r := range opts.Repositories {
		items, err := tagItems(ctx, client, r.Image, func(tag string) string { return KindImage })
		if err != nil {
			return rep, err
		}
		for i := range items {
			items[i].keep, items[i].Reason = decideImage(items[i].RegistryItem, r, opts)
		}
		kept, err := settle(ctx, client, r.Image, items, opts.DryRun, rep)
		if err != nil {
			return rep, err
		}
		if r.Cache != nil {
			k := r.Cache.String()
			cacheRepos[k] = *r.Cache
			if keptImages[k] == nil {
				keptImages[k] = map[string]string{}
			}
			for d, ref := range kept {
				keptImages[k][d] = ref
			}
		}
	}
	names := make([]string, 0, len(cacheRepos))
	for k := range cacheRepos {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if err := pruneCache(ctx, client, cacheRepos[k], keptImages[k], opts, rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// tagItems lists repo's tags with their digests.
func tagItems(ctx context.Context, client *oci.Client, repo name.Repository, kind func(string) string) ([]tagged, error) {
	tags, err := client.ListTags(ctx, repo)
	if err != nil {
		return nil, err
	}
	sort.Strings(tags)
	items := make([]tagged, len(tags))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallelism)
	for i, t := range tags {
		g.Go(func() error {
			desc, err := client.Head(gctx, repo.Tag(t))
			if err != nil {
				return err
			}
			items[i] = tagged{RegistryItem: RegistryItem{Kind: kind(t), Ref: repo.Tag(t).String(), Digest: desc.Digest.String()}}
			return nil
		})
	}
	return items, g.Wait()
}

// tagged is a tag being decided on.
type tagged struct {
	RegistryItem
	keep bool
}

func keep(format string, args ...any) (bool, string) { return true, fmt.Sprintf(format, args...) }

func drop(format string, args ...any) (bool, string) { return false, fmt.Sprintf(format, args...) }

var (
	describeTag = regexp.MustCompile(`-[0-9]+-g([0-9a-f]{7,40})$`)
	hexSuffix   = regexp.MustCompile(`(?:^|[-_.])([0-9a-f]{7,40})$`)
	notTagChar  = regexp.MustCompile(`[^A-Za-z0-9_.-]`)
)

// decideImage says whether an image tag is kept, and why.
func decideImage(it RegistryItem, r Repository, opts RegistryOptions) (bool, string) {
	if why, ok := opts.Needed.Reason(it.Digest); ok {
		return keep("%s", why)
	}
	h := opts.History
	if h == nil {
		return keep("no git history to judge it by")
	}
	tag := it.Ref[strings.LastIndex(it.Ref, ":")+1:]
	for _, t := range h.Tags() {
		if tag == t || tag == strings.TrimLeft(notTagChar.ReplaceAllString(t, "-"), ".-") {
			return keep("git tag %s", t)
		}
	}
	if !r.CommitTags {
		return keep("the tag policy's tags do not name commits")
	}
	bare := strings.TrimSuffix(tag, "-dirty")
	var hex string
	if m := describeTag.FindStringSubmatch(bare); m != nil {
		hex = m[1]
	} else if m := hexSuffix.FindStringSubmatch(bare); m != nil {
		hex = m[1]
	} else {
		return keep("names no commit")
	}
	commit, why, known := h.Resolve(hex)
	switch {
	case !known:
		return drop("commit %s is on no branch or tag (its branch was deleted)", hex)
	case why != "":
		return keep("commit %s is %s", commit[:12], why)
	default:
		return drop("commit %s is not among the newest commits of a branch that is not merged", commit[:12])
	}
}

// settle deletes the manifests whose every tag goes, records the items in
// rep and returns the kept digests (with one of their refs). A tag that
// would go but shares its manifest with a kept tag is kept.
func settle(ctx context.Context, client *oci.Client, repo name.Repository, items []tagged, dryRun bool, rep *RegistryReport) (map[string]string, error) {
	kept := map[string]string{}
	for _, it := range items {
		if it.keep {
			if _, ok := kept[it.Digest]; !ok {
				kept[it.Digest] = it.Ref
			}
		}
	}
	var doomed []string
	seen := map[string]bool{}
	for _, it := range items {
		switch {
		case it.keep:
			rep.Kept = append(rep.Kept, it.RegistryItem)
		case kept[it.Digest] != "":
			it.Reason = fmt.Sprintf("%s, but its manifest is also tagged %s, which is kept", it.Reason, kept[it.Digest])
			rep.Kept = append(rep.Kept, it.RegistryItem)
		default:
			rep.Deleted = append(rep.Deleted, it.RegistryItem)
			if !seen[it.Digest] {
				seen[it.Digest] = true
				doomed = append(doomed, it.Digest)
			}
		}
	}
	if dryRun {
		return kept, nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallelism)
	for _, d := range doomed {
		g.Go(func() error { return client.Delete(gctx, repo.Digest(d)) })
	}
	return kept, g.Wait()
}

// pruneCache deletes the cache entries and indexes of repo that no kept
// image's build used, unless an entry is younger than opts.CacheGrace. When
// a kept image has no index, what it used cannot be told and every entry
// is kept.
func pruneCache(ctx context.Context, client *oci.Client, repo name.Repository, keptImages map[string]string, opts RegistryOptions, rep *RegistryReport) error {
	items, err := tagItems(ctx, client, repo, func(tag string) string {
		switch {
		case cache.IsEntryTag(tag):
			return KindCacheEntry
		case isIndexTag(tag):
			return KindCacheIndex
		}
		return KindOther
	})
	if err != nil {
		return err
	}
	reg := cache.NewRegistry(client, repo)
	used := map[string]string{} // key → the image whose build used it
	var unindexed []string
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallelism)
	for d, ref := range keptImages {
		g.Go(func() error {
			h, err := v1.NewHash(d)
			if err != nil {
				return err
			}
			keys, ok, err := reg.Index(gctx, h)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			if !ok {
				unindexed = append(unindexed, ref)
			}
			for _, k := range keys {
				used[k] = ref
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	sort.Strings(unindexed)
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(parallelism)
	for i := range items {
		it := &items[i]
		tag := it.Ref[strings.LastIndex(it.Ref, ":")+1:]
		switch it.Kind {
		case KindOther:
			it.keep, it.Reason = keep("not a cache entry or index skiff wrote")
		case KindCacheIndex:
			h, _ := cache.ParseIndexTag(tag)
			if ref, ok := keptImages[h.String()]; ok {
				it.keep, it.Reason = keep("index of kept image %s", ref)
			} else {
				it.keep, it.Reason = drop("index of an image that is deleted or gone")
			}
		case KindCacheEntry:
			if ref, ok := used[tag]; ok {
				it.keep, it.Reason = keep("the build of kept image %s used it", ref)
			} else if len(unindexed) > 0 {
				it.keep, it.Reason = keep("kept image %s has no cache index (built before skiff wrote one), so every entry is kept", unindexed[0])
			} else {
				g.Go(func() error {
					img, err := client.Image(gctx, repo.Tag(tag))
					if err != nil {
						return err
					}
					cf, err := img.ConfigFile()
					if err != nil {
						return fmt.Errorf("reading cache entry %s: %w", it.Ref, err)
					}
					if age := opts.Now.Sub(cf.Created.Time); age < opts.CacheGrace {
						it.keep, it.Reason = keep("created %s ago, within the grace of %s for builds still running", roundAge(age), opts.CacheGrace)
					} else {
						it.keep, it.Reason = drop("the build of no kept image used it")
					}
					return nil
				})
			}
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	_, err = settle(ctx, client, repo, items, opts.DryRun, rep)
	return err
}

func isIndexTag(tag string) bool {
	_, ok := cache.ParseIndexTag(tag)
	return ok
}

package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/build"
	"github.com/skiff-dev/skiff/internal/cleanup"
)

// cleanupOptions are skiff cleanup's.
type cleanupOptions struct {
	s           *session
	local       bool
	cacheDir    string
	olderThan   time.Duration
	keepStorage string
	dryRun      bool

	registry      bool
	keepPerBranch int
	defaultBranch string
	cacheGrace    time.Duration
	cacheRepo     string
}

func newCleanupCmd(s *session) *cobra.Command {
	o := &cleanupOptions{s: s}
	cmd := &cobra.Command{
		Use:   "cleanup --local | --registry",
		Short: "Delete what skiff's caches and registries keep that nothing needs any more",
		Long: "With --local, prune the build's local layer store and cache (the --cache-dir of skiff\n" +
			"build): layers, blobs, cache entries and RUN --mount=type=cache directories unused for\n" +
			"longer than --older-than, then the least recently used until --keep-storage is left,\n" +
			"then blobs no entry refers to. It waits for running builds and no build starts while it\n" +
			"removes, so it is safe next to other skiff processes.\n\n" +
			"With --registry, delete in every artifact's image repository the tags nothing needs,\n" +
			"and in its registry cache the entries no kept image's build used. Kept: what any\n" +
			"environment runs or a rollback may deploy (its release records, in every configured\n" +
			"and every live dynamic environment), what any release artifact references, git tags,\n" +
			"the newest --keep-per-branch commits of every branch not merged into the default\n" +
			"branch, and every tag that names no commit skiff can place. It needs the full git\n" +
			"history (no shallow clone) and every environment's cluster: when one cannot be read,\n" +
			"nothing is deleted.\n\n" +
			"--dry-run lists what would go and changes nothing.",
		Example: "  skiff cleanup --local --keep-storage 10GB --older-than 168h\n  skiff cleanup --local --dry-run\n" +
			"  skiff cleanup --registry --default-repo registry.example.com/team --dry-run\n" +
			"  skiff cleanup --registry --keep-per-branch 5",
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runVerb(cmd.Context(), o) },
	}
	fl := cmd.Flags()
	fl.BoolVar(&o.local, "local", false, "prune the local layer store and build cache")
	fl.StringVar(&o.cacheDir, "cache-dir", "", "the build's cache directory (default: ${XDG_CACHE_HOME:-~/.cache}/skiff/build)")
	fl.DurationVar(&o.olderThan, "older-than", 0, "remove what was last used longer ago than this, e.g. 168h (0: no age limit)")
	fl.StringVar(&o.keepStorage, "keep-storage", "", "then remove the least recently used until at most this much is left, e.g. 10GB (default: no size limit)")
	fl.BoolVar(&o.dryRun, "dry-run", false, "list what would be removed and remove nothing")
	fl.BoolVar(&o.registry, "registry", false, "delete image tags and registry cache entries nothing needs")
	fl.IntVar(&o.keepPerBranch, "keep-per-branch", 3, "with --registry: how many of each live branch's newest commits keep their images")
	fl.StringVar(&o.defaultBranch, "default-branch", "", "with --registry: the branch others merge into (default: origin/HEAD, else main, else master)")
	fl.DurationVar(&o.cacheGrace, "cache-grace", 24*time.Hour, "with --registry: keep cache entries younger than this (a build may still be running)")
	fl.StringVar(&o.cacheRepo, "cache-repo", "", "with --registry: the registry cache repository builds use (default: <image>/cache)")
	return cmd
}

func (o *cleanupOptions) Validate() error {
	if !o.local && !o.registry {
		return usageError("say what to clean: --local (the build's layer store and cache) or --registry (image tags and registry cache entries)")
	}
	if o.keepPerBranch < 1 {
		return usageError("--keep-per-branch %d: keep at least 1 commit per branch", o.keepPerBranch)
	}
	if o.cacheGrace < 0 {
		return usageError("--cache-grace %s: use a positive duration such as 24h", o.cacheGrace)
	}
	if o.olderThan < 0 {
		return usageError("--older-than %s: use a positive duration such as 168h", o.olderThan)
	}
	if o.keepStorage != "" {
		if _, err := cleanup.ParseSize(o.keepStorage); err != nil {
			return usageError("--keep-storage %q: %v; use a size such as 10GB", o.keepStorage, err)
		}
	}
	return nil
}

func (o *cleanupOptions) Run(ctx context.Context) error {
	if o.registry {
		if err := o.runRegistry(ctx); err != nil {
			return err
		}
	}
	if o.local {
		return o.runLocal(ctx)
	}
	return nil
}

func (o *cleanupOptions) runLocal(ctx context.Context) error {
	dir, err := build.CacheDir(o.cacheDir)
	if err != nil {
		return err
	}
	var keep int64
	if o.keepStorage != "" {
		keep, _ = cleanup.ParseSize(o.keepStorage) // checked by Validate
	}
	rep, err := cleanup.Local(ctx, cleanup.LocalOptions{Dir: dir, OlderThan: o.olderThan, KeepStorage: keep, DryRun: o.dryRun})
	if err != nil {
		return err
	}
	verb := "removed"
	if rep.DryRun {
		verb = "would remove"
	}
	for _, it := range rep.Removed {
		fmt.Fprintf(o.s.streams.Out, "%s %s %s (%s, last used %s): %s\n", verb, it.Kind, it.Path,
			cleanup.HumanSize(it.Size), it.LastUsed.UTC().Format(time.RFC3339), it.Reason)
	}
	after := rep.After
	if rep.DryRun {
		after = rep.Before
		for _, it := range rep.Removed {
			after -= it.Size
		}
	}
	fmt.Fprintf(o.s.streams.Err, "cleanup %s: %s %d items, %s → %s, %d kept\n", rep.Dir, verb, len(rep.Removed),
		cleanup.HumanSize(rep.Before), cleanup.HumanSize(after), rep.Kept)
	return nil
}

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
}

func newCleanupCmd(s *session) *cobra.Command {
	o := &cleanupOptions{s: s}
	cmd := &cobra.Command{
		Use:   "cleanup --local",
		Short: "Delete what skiff's caches keep that nothing needs any more",
		Long: "With --local, prune the build's local layer store and cache (the --cache-dir of skiff\n" +
			"build): layers, blobs, cache entries and RUN --mount=type=cache directories unused for\n" +
			"longer than --older-than, then the least recently used until --keep-storage is left,\n" +
			"then blobs no entry refers to. It waits for running builds and no build starts while it\n" +
			"removes, so it is safe next to other skiff processes. --dry-run lists what would go.",
		Example: "  skiff cleanup --local --keep-storage 10GB --older-than 168h\n  skiff cleanup --local --dry-run",
		Args:    args(cobra.NoArgs),
		RunE:    func(cmd *cobra.Command, _ []string) error { return runVerb(cmd.Context(), o) },
	}
	fl := cmd.Flags()
	fl.BoolVar(&o.local, "local", false, "prune the local layer store and build cache")
	fl.StringVar(&o.cacheDir, "cache-dir", "", "the build's cache directory (default: ${XDG_CACHE_HOME:-~/.cache}/skiff/build)")
	fl.DurationVar(&o.olderThan, "older-than", 0, "remove what was last used longer ago than this, e.g. 168h (0: no age limit)")
	fl.StringVar(&o.keepStorage, "keep-storage", "", "then remove the least recently used until at most this much is left, e.g. 10GB (default: no size limit)")
	fl.BoolVar(&o.dryRun, "dry-run", false, "list what would be removed and remove nothing")
	return cmd
}

func (o *cleanupOptions) Validate() error {
	if !o.local {
		return usageError("say what to clean: --local (the build's layer store and cache)")
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

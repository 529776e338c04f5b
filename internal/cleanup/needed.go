package cleanup

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/release"
)

// Needed is the set of image digests something still needs, each with the
// first reason found. It is safe for concurrent use.
type Needed struct {
	mu  sync.Mutex
	why map[string]string
}

// NewNeeded returns an empty set.
func NewNeeded() *Needed { return &Needed{why: map[string]string{}} }

// Add marks the digest of ref (name[:tag]@sha256:…) as needed for reason;
// references without a digest name nothing skiff built and are ignored.
func (n *Needed) Add(ref, reason string) {
	_, digest, ok := strings.Cut(ref, "@")
	if !ok || !strings.HasPrefix(digest, "sha256:") {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, seen := n.why[digest]; !seen {
		n.why[digest] = reason
	}
}

// Reason says why digest is needed; ok is false when nothing needs it.
func (n *Needed) Reason(digest string) (reason string, ok bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	reason, ok = n.why[digest]
	return reason, ok
}

// Len is the number of needed digests.
func (n *Needed) Len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.why)
}

// Digests lists the needed digests, sorted.
func (n *Needed) Digests() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]string, 0, len(n.why))
	for d := range n.why {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// AddRecords marks the images of every release record of app in namespace:
// the newest is what runs there, the older ones are what a rollback would
// deploy. where names the environment in reasons.
func (n *Needed) AddRecords(ctx context.Context, records *apply.Records, namespace, app, where string) error {
	recs, err := records.List(ctx, namespace, app)
	if err != nil {
		return err
	}
	for i, r := range recs {
		reason := fmt.Sprintf("%s runs it (namespace %s, revision %d)", where, namespace, r.Revision)
		if i < len(recs)-1 {
			reason = fmt.Sprintf("a rollback of %s may deploy it (namespace %s, revision %d)", where, namespace, r.Revision)
		}
		for _, img := range r.Images {
			n.Add(img, reason)
		}
	}
	return nil
}

// AddReleases marks the images of every release artifact in repo.
func (n *Needed) AddReleases(ctx context.Context, store *release.Store, repo string) error {
	rels, err := store.List(ctx, repo)
	if err != nil {
		return fmt.Errorf("listing releases in %s: %w", repo, err)
	}
	for _, r := range rels {
		for _, b := range r.Metadata.Images {
			n.Add(b.Tag, fmt.Sprintf("release %s references it", r.Metadata.Tag))
		}
	}
	return nil
}

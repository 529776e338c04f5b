package gitinfo

import (
	"errors"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"
)

func (f *fixture) checkout(branch string, from plumbing.Hash, create bool) {
	wt, _ := f.repo.Worktree()
	opts := &git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName(branch), Create: create, Force: true}
	if create {
		opts.Hash = from
	}
	if err := wt.Checkout(opts); err != nil {
		f.t.Fatal(err)
	}
}

func TestHistoryKeepsNewestCommitsOfLiveBranchesAndTags(t *testing.T) {
	f := newFixture(t)
	var master []plumbing.Hash
	for i := 0; i < 5; i++ {
		master = append(master, f.commit(map[string]string{"a": string(rune('0' + i))}))
	}
	if _, err := f.repo.CreateTag("v1.0.0", master[0], nil); err != nil {
		t.Fatal(err)
	}
	f.checkout("feature/login", master[2], true)
	var feature []plumbing.Hash
	for i := 0; i < 3; i++ {
		feature = append(feature, f.commit(map[string]string{"f": string(rune('0' + i))}))
	}
	// A branch whose head master reaches is merged: it keeps nothing.
	f.checkout("merged", master[3], true)
	// A branch deleted after a commit: the commit is on no ref.
	f.checkout("gone", master[4], true)
	gone := f.commit(map[string]string{"g": "1"})
	f.checkout("master", plumbing.ZeroHash, false)
	if err := f.repo.Storer.RemoveReference(plumbing.NewBranchReferenceName("gone")); err != nil {
		t.Fatal(err)
	}

	r, err := Open(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.History(2, "")
	if err != nil {
		t.Fatal(err)
	}
	if h.DefaultBranch != "master" {
		t.Errorf("default branch %q, want master", h.DefaultBranch)
	}
	if d := cmp.Diff([]string{"merged"}, h.Merged()); d != "" {
		t.Errorf("merged branches (-want +got):\n%s", d)
	}
	wanted := map[plumbing.Hash]bool{master[4]: true, master[3]: true, feature[2]: true, feature[1]: true, master[0]: true}
	for _, c := range append(append([]plumbing.Hash{}, master...), feature...) {
		commit, why, known := h.Resolve(c.String()[:8])
		if !known || commit != c.String() {
			t.Errorf("%s: resolved to %q, known %v", c, commit, known)
		}
		if got := why != ""; got != wanted[c] {
			t.Errorf("%s: wanted %v (%q), want %v", c, got, why, wanted[c])
		}
	}
	if _, _, known := h.Resolve(gone.String()[:7]); known {
		t.Errorf("the commit of a deleted branch is known")
	}
	if c, ok := h.TagCommit("v1.0.0"); !ok || c != master[0].String() {
		t.Errorf("tag v1.0.0 → %q %v", c, ok)
	}
	if _, _, known := h.Resolve("abc"); known {
		t.Errorf("a 3-digit prefix resolved")
	}
}

func TestHistoryRefusesAShallowClone(t *testing.T) {
	f := newFixture(t)
	first := f.commit(map[string]string{"a": "1"})
	f.commit(map[string]string{"a": "2"})
	if err := f.repo.Storer.SetShallow([]plumbing.Hash{first}); err != nil {
		t.Fatal(err)
	}
	r, err := Open(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.History(3, ""); !errors.Is(err, ErrShallow) {
		t.Errorf("History on a shallow clone: %v, want ErrShallow", err)
	}
}

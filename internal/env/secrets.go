package env

import (
	"sort"

	"github.com/skiff-dev/skiff/internal/apply"
)

// SecretChanges says which secret values differ between two revisions, by
// their keyed digests (never the values): "secret db/password changed",
// "… added", "… removed", sorted.
func SecretChanges(prev, cur apply.Record) []string {
	var out []string
	for k, d := range cur.Secrets {
		switch p, ok := prev.Secrets[k]; {
		case !ok:
			out = append(out, "secret "+k+" added")
		case p != d:
			out = append(out, "secret "+k+" changed")
		}
	}
	for k := range prev.Secrets {
		if _, ok := cur.Secrets[k]; !ok {
			out = append(out, "secret "+k+" removed")
		}
	}
	sort.Strings(out)
	return out
}

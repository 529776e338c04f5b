package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// maxReapplied bounds the no-op re-applies a record keeps.
const maxReapplied = 20

// Reapply is an apply that found its manifests already in place: it wrote
// nothing and is noted on the revision it found instead of becoming one.
type Reapply struct {
	Time        time.Time `json:"time"`
	KubeUser    string    `json:"kubeUser,omitempty"`
	Actor       string    `json:"actor,omitempty"`
	Commit      string    `json:"commit,omitempty"`
	Tag         string    `json:"tag,omitempty"`
	Description string    `json:"description,omitempty"`
}

// noOp returns the current record when applying p changes nothing: every
// object is unchanged, nothing would be pruned or added to the inventory,
// and the newest revision deployed these very manifests (under the same
// release tag, when one is given). Otherwise nil.
func (p *plan) noOp(opts Options) *Record {
	cur := p.current
	if cur == nil || cur.Status != RecordDeployed || p.createNS {
		return nil
	}
	if opts.Release.Tag != "" && opts.Release.Tag != cur.Tag {
		return nil // a new release of the same manifests is worth a revision
	}
	for _, it := range p.items {
		if it.action != Unchanged {
			return nil
		}
	}
	refs := p.refs()
	inv := p.inventory.Objects
	if len(union(inv, refs)) != len(inv) || (opts.Prune && len(minus(inv, refs)) > 0) {
		return nil
	}
	if _, sum, err := plainManifests(p.source); err != nil || sum != cur.ManifestsSHA256 {
		return nil
	}
	return cur
}

// reapply finishes an apply that changes nothing: it reports every object
// unchanged, runs the status check when asked, and notes the re-apply on the
// current record. A failing status check fails the apply but undoes
// nothing, since this apply did nothing.
func (a *Applier) reapply(ctx context.Context, p *plan, opts Options, res *Result, cur *Record) error {
	res.NoOp, res.Revision = true, cur.Revision
	for _, it := range p.items {
		c := Change{Object: it.ref, Origin: it.origin, Action: Unchanged}
		res.Changes = append(res.Changes, c)
		a.emit(opts, Event{Type: EventChange, Change: c})
	}
	a.phase(opts, "nothing to change: revision %d is in place", cur.Revision)
	kubeUser := make(chan string, 1)
	go func() { kubeUser <- whoAmI(ctx, a.core) }()
	if opts.StatusCheck {
		a.phase(opts, "waiting for %d objects to become ready", len(p.items))
		sts, err := a.watcher.Wait(ctx, statusRefs(p.items), statusOptions(opts))
		res.Statuses = sts
		if err != nil {
			<-kubeUser
			return fmt.Errorf("status check: %w (this apply changed nothing: revision %d was already in place)", err, cur.Revision)
		}
	}
	note := Reapply{
		Time: time.Now().UTC(), KubeUser: <-kubeUser, Actor: opts.Release.Actor,
		Commit: opts.Release.Commit, Tag: opts.Release.Tag, Description: opts.Release.Description,
	}
	return a.records.noteReapply(ctx, opts.Namespace, opts.App, cur.Revision, note)
}

// noteReapply appends note to the Reapplied list of revision rev.
func (r *Records) noteReapply(ctx context.Context, namespace, app string, rev int, note Reapply) error {
	name := RecordName(app, rev)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := r.client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		rec, err := decodeRecord(s)
		if err != nil {
			return err
		}
		rec.Reapplied = append(rec.Reapplied, note)
		if n := len(rec.Reapplied); n > maxReapplied {
			rec.Reapplied = rec.Reapplied[n-maxReapplied:]
		}
		s.Data[recordKey], err = json.Marshal(rec)
		if err != nil {
			return err
		}
		_, err = r.client.CoreV1().Secrets(namespace).Update(ctx, s, metav1.UpdateOptions{FieldManager: FieldManager})
		return err
	})
	if err != nil {
		return fmt.Errorf("noting the re-apply on release record %s/%s: %w", namespace, name, err)
	}
	return nil
}

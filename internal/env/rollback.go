package env

import (
	"context"
	"errors"
	"fmt"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/kube"
)

// The steps of Rollback.
const (
	StepRevision = "revision" // choose the revision to re-apply
)

// RollbackRequest re-applies an earlier revision of an environment.
type RollbackRequest struct {
	App         string
	Environment config.Environment
	Namespace   string
	// ToRevision is the revision to re-apply; 0 means the last successful
	// one before the current.
	ToRevision int
	Approved   bool
	// Apply are the apply options of the flags and configuration.
	Apply apply.Options
	User  string
}

// RollbackResult says what Rollback did.
type RollbackResult struct {
	// From is the current revision, To the one re-applied.
	From, To int
	Apply    *apply.Result
	Options  apply.Options
}

// ErrNoRevision is returned when there is no revision to roll back to.
var ErrNoRevision = errors.New("no revision to roll back to")

// Rollback re-applies a stored revision as a new one, with a status check:
// revision, protection (the revision's tag must pass it), apply.
func Rollback(ctx context.Context, c *kube.Clients, confirm func(string) bool, req RollbackRequest, events func(Event)) (*RollbackResult, error) {
	res := &RollbackResult{}
	var rec *apply.Record
	records := apply.NewRecords(c.Core)
	e := req.Environment
	err := runSteps(ctx, []step{
		{StepRevision, func(ctx context.Context) error {
			recs, err := records.List(ctx, req.Namespace, req.App)
			if err != nil {
				return err
			}
			if len(recs) == 0 {
				return fmt.Errorf("environment %s (namespace %s) has %w", e.Name, req.Namespace, ErrNoRevision)
			}
			res.From = recs[len(recs)-1].Revision
			if req.ToRevision > 0 {
				if rec, err = records.Get(ctx, req.Namespace, req.App, req.ToRevision); err != nil {
					return fmt.Errorf("%w (see skiff env history %s)", err, e.Name)
				}
			} else if rec, err = records.LastDeployed(ctx, req.Namespace, req.App, res.From); err != nil {
				return err
			} else if rec == nil {
				return fmt.Errorf("environment %s has no successful revision before %d: %w", e.Name, res.From, ErrNoRevision)
			}
			res.To = rec.Revision
			emitf(events, StepRevision, "environment %s: rolling back from revision %d to revision %d", e.Name, res.From, res.To)
			return nil
		}},
		{StepProtection, func(context.Context) error {
			ref := Ref{Name: rec.Tag, Tag: rec.Tag != ""}
			err := CheckDeploy(e, ref, req.Approved)
			if errors.Is(err, ErrApprovalRequired) && confirm != nil &&
				confirm(fmt.Sprintf("Roll %s back to revision %d (%s)?", e.Name, rec.Revision, DescribeRef(ref))) {
				return nil
			}
			return err
		}},
		{StepApply, func(ctx context.Context) error {
			opts := req.Apply
			opts.App, opts.Namespace, opts.CreateNamespace = req.App, req.Namespace, false
			opts.ClusterLabels = ClusterLabels(req.App, e.Name)
			opts.RecordKey = apply.RecordKeyName(req.App, e.Name)
			opts.Release = apply.ReleaseInfo{Actor: req.User, Description: fmt.Sprintf("rollback to revision %d", rec.Revision)}
			opts.OnEvent = applyEvents(events, StepApply)
			res.Options = opts
			applier, err := c.Applier()
			if err != nil {
				return err
			}
			res.Apply, err = applier.Rollback(ctx, rec.Revision, opts)
			return err
		}},
	})
	return res, err
}

package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/env"
	"github.com/skiff-dev/skiff/internal/kube"
	"github.com/skiff-dev/skiff/internal/ui"
)

// Target is what an action needs of one configured environment: its
// configuration (its profiles applied), its cluster's clients as its
// deployer, and the apply options of its project.
type Target struct {
	Environment config.Environment
	Clients     *kube.Clients
	Apply       apply.Options
}

// Actions run skiff ui's rollback and stop through the env workflows, with
// the rules of skiff env rollback and env stop: the same deployer,
// protection, requireTag and approval.
type Actions struct {
	App string
	// Source is the environment list an action's environment and
	// namespace must be in: a browser names them, and only what the page
	// shows can be acted on.
	Source ui.Source
	// Resolve returns the Target of the configured environment name.
	Resolve func(name string) (*Target, error)
	// User is who acts, for the release records.
	User string
}

var _ ui.Actions = (*Actions)(nil)

// listed is the environment the page shows for id, when it is configured.
func (a *Actions) listed(ctx context.Context, id ui.ID) (ui.Environment, *Target, error) {
	e, err := a.Source.Environment(ctx, id)
	if err != nil {
		return e, nil, err
	}
	if !e.Configured || !e.Exists {
		return e, nil, fmt.Errorf("environment %s (namespace %s) is not configured or not deployed; nothing to act on", id.Name, id.Namespace)
	}
	t, err := a.Resolve(id.Name)
	return e, t, err
}

// Rollback re-applies revision as a new revision (env.Rollback). approved
// is the confirmation page's approval.
func (a *Actions) Rollback(ctx context.Context, id ui.ID, revision int, approved bool) (string, error) {
	_, t, err := a.listed(ctx, id)
	if err != nil {
		return "", err
	}
	res, err := env.Rollback(ctx, t.Clients, nil, env.RollbackRequest{
		App: a.App, Environment: t.Environment, Namespace: id.Namespace, ToRevision: revision,
		Approved: approved, Apply: t.Apply, User: a.User,
	}, nil)
	if errors.Is(err, env.ErrApprovalRequired) {
		return "", fmt.Errorf("environment %s: %w: tick the approval on the confirmation page", id.Name, env.ErrApprovalRequired)
	}
	if err != nil {
		return "", err
	}
	msg := fmt.Sprintf("Rolled %s (namespace %s) back from revision %d to revision %d", id.Name, id.Namespace, res.From, res.To)
	if res.Apply != nil && res.Apply.Revision > 0 {
		msg += fmt.Sprintf(": revision %d", res.Apply.Revision)
	}
	return msg + ".", nil
}

// Stop removes a dynamic environment (env.Stop): its inventory, then its
// namespace when skiff created it and it is not immutable.
func (a *Actions) Stop(ctx context.Context, id ui.ID) (string, error) {
	e, t, err := a.listed(ctx, id)
	if err != nil {
		return "", err
	}
	if !t.Environment.Dynamic {
		return "", fmt.Errorf("environment %s is not dynamic; it is never stopped", id.Name)
	}
	res, err := env.Stop(ctx, t.Clients, env.StopRequest{
		App: a.App, Environment: id.Name, Ref: env.Ref{Name: e.Ref}, Namespace: id.Namespace,
	}, nil)
	if err != nil {
		return "", err
	}
	msg := fmt.Sprintf("Stopped %s (namespace %s): %d object(s) deleted", id.Name, id.Namespace, len(res.Changes))
	if res.NamespaceDeleted {
		msg += ", namespace deleted"
	}
	return msg + ".", nil
}

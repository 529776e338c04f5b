package ui

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by a Source for an environment or revision it
// does not know; the server answers 404.
var ErrNotFound = errors.New("not found")

// ID names one environment instance: a configured environment, or one live
// namespace of a dynamic one.
type ID struct {
	Name      string // the environment's name
	Namespace string
}

// Environment is one row of the environments page: what skiff env list
// shows for one environment namespace.
type Environment struct {
	ID
	// Context is the kubeconfig context of the environment's cluster.
	Context string
	Dynamic bool
	// Protected environments are deployed (and rolled back) only from tags
	// matching RequireTag, and with approval when ApprovalRequired.
	Protected        bool
	RequireTag       string
	ApprovalRequired bool
	// Configured is false for a live namespace whose environment is no
	// longer in the configuration.
	Configured bool
	// Exists is false when the namespace does not exist (nothing deployed).
	Exists bool
	Ref    string
	// Revision is the latest revision (0: none) and Status its outcome.
	Revision int
	Status   string
	// Version is the tag, else the short commit; CommitURL links to the
	// commit when the repository's remote is known.
	Version    string
	Commit     string
	CommitURL  string
	Images     []string
	DeployedAt time.Time
	DeployedBy string
	Health     Health
	ExpiresAt  time.Time
	URL        string
}

// Health summarises the kstatus of an environment's objects.
type Health struct {
	// State is healthy, progressing, failed, missing, empty or unknown.
	State string
	// Detail names the first object that is not healthy and why (pod
	// diagnostics included).
	Detail string
}

// Revision is one release record of an environment.
type Revision struct {
	Revision    int
	Status      string
	Message     string // why it failed
	Time        time.Time
	By          string
	Version     string
	Commit      string
	CommitURL   string
	Images      []string
	Description string
	RollbackOf  int
}

// Object is one object of an environment's inventory with its kstatus.
type Object struct {
	Kind      string // Kind.group
	Namespace string
	Name      string
	Status    string // kstatus: Current, InProgress, Failed, …
	Message   string
	// Problem is the unrecoverable state of the object or one of its pods
	// (ImagePullBackOff on pod x, …); empty when there is none.
	Problem string
}

// DiffChange says how an object differs between two revisions.
type DiffChange string

// The ways an object can differ.
const (
	DiffAdded     DiffChange = "added"
	DiffRemoved   DiffChange = "removed"
	DiffChanged   DiffChange = "changed"
	DiffUnchanged DiffChange = "unchanged"
)

// ObjectDiff is the difference of one object's manifest between two
// revisions, as a unified diff. Secret values are never part of it.
type ObjectDiff struct {
	Object  string
	Change  DiffChange
	Unified string
}

// Release is one release in the registry.
type Release struct {
	Tag     string
	Commit  string
	Ref     string // repo@sha256:…
	Created time.Time
	// Environments are those the release has manifests for.
	Environments []string
	Changelog    string
}

// Change says that what the pages show may have changed: in one namespace,
// or anywhere when Namespace is empty.
type Change struct {
	Namespace string
}

// Source is what the pages read: the engines behind skiff env list, env
// history, the inventory's status, release records and release list.
type Source interface {
	// Environments is every configured environment and live dynamic one.
	Environments(ctx context.Context) ([]Environment, error)
	// Environment is one of them (ErrNotFound when it is unknown).
	Environment(ctx context.Context, id ID) (Environment, error)
	// History is the environment's revisions, oldest first.
	History(ctx context.Context, id ID) ([]Revision, error)
	// Inventory is the environment's objects with their status now.
	Inventory(ctx context.Context, id ID) ([]Object, error)
	// Diff compares the manifests of revisions from and to.
	Diff(ctx context.Context, id ID, from, to int) ([]ObjectDiff, error)
	// Releases lists the releases in the registry, newest first.
	Releases(ctx context.Context) ([]Release, error)
	// Watch calls changed whenever something the pages show may have
	// changed, from Kubernetes watches, until ctx ends (then it returns
	// nil) or watching fails.
	Watch(ctx context.Context, changed func(Change)) error
}

// Actions are the workflows the pages can run; the same rules apply as on
// the command line (protection, approval, requireTag, dynamic-only stop).
type Actions interface {
	// Rollback re-applies revision as a new revision of the environment;
	// approved is what --approve says. It returns what happened, in a line.
	Rollback(ctx context.Context, id ID, revision int, approved bool) (string, error)
	// Stop removes a dynamic environment: its inventory, then its
	// namespace when skiff created it.
	Stop(ctx context.Context, id ID) (string, error)
}

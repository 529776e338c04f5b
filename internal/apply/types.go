package apply

import (
	"fmt"
	"strings"
	"time"

	"github.com/skiff-dev/skiff/internal/manifest"
	"github.com/skiff-dev/skiff/internal/status"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Labels and annotations skiff sets.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "skiff"
	LabelApp       = "skiff.dev/app"
	// AnnotationInventory marks every object skiff applied with the
	// inventory that owns it, "namespace/app". Prune and delete touch only
	// objects that carry their own inventory's mark.
	AnnotationInventory = "skiff.dev/inventory"
	// FieldManager is the server-side apply field manager.
	FieldManager = "skiff"
)

// Action is what skiff did, or will do, to one object.
type Action string

// The actions of a change set.
const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
	Pruned     Action = "pruned"
	Deleted    Action = "deleted"
	Skipped    Action = "skipped" // not pruned or deleted: see Change.Reason
)

// ObjectRef identifies an object regardless of its API version.
type ObjectRef struct {
	Group, Kind, Namespace, Name string
}

// GroupKind returns the object's group and kind.
func (r ObjectRef) GroupKind() schema.GroupKind {
	return schema.GroupKind{Group: r.Group, Kind: r.Kind}
}

// String names the object as Kind.group namespace/name, like manifest.ID.
func (r ObjectRef) String() string {
	kind := r.Kind
	if r.Group != "" {
		kind += "." + r.Group
	}
	if r.Namespace != "" {
		return kind + " " + r.Namespace + "/" + r.Name
	}
	return kind + " " + r.Name
}

// key is the inventory's line for r: group/kind/namespace/name, as manifest.Key.
func (r ObjectRef) key() string {
	return r.Group + "/" + r.Kind + "/" + r.Namespace + "/" + r.Name
}

func parseRef(line string) (ObjectRef, error) {
	p := strings.Split(line, "/")
	if len(p) != 4 || p[1] == "" || p[3] == "" {
		return ObjectRef{}, fmt.Errorf("malformed inventory entry %q (want group/kind/namespace/name)", line)
	}
	return ObjectRef{Group: p[0], Kind: p[1], Namespace: p[2], Name: p[3]}, nil
}

// Change is one object's entry in a change set.
type Change struct {
	Object ObjectRef
	Action Action
	Origin manifest.Origin // where the manifest came from, when known
	Reason string          // why an object was skipped
}

// FailurePolicy says what to do when an apply or its status check fails.
type FailurePolicy string

// The failure policies.
const (
	OnFailureKeep     FailurePolicy = "keep"
	OnFailureRollback FailurePolicy = "rollback"
	OnFailureDelete   FailurePolicy = "delete"
)

// ParseFailurePolicy checks s.
func ParseFailurePolicy(s string) (FailurePolicy, error) {
	switch p := FailurePolicy(s); p {
	case OnFailureKeep, OnFailureRollback, OnFailureDelete:
		return p, nil
	case "":
		return OnFailureKeep, nil
	}
	return "", fmt.Errorf("unknown failure policy %q: use keep, rollback or delete", s)
}

// ReleaseInfo is what the caller knows about the release being applied.
type ReleaseInfo struct {
	Actor       string // the person or pipeline user: $GITLAB_USER_LOGIN, else $USER
	Commit, Tag string
	Description string
	// RollbackOf is the revision whose manifests are being re-applied.
	RollbackOf int
}

// Options control one apply. Start from DefaultOptions.
type Options struct {
	// App names the application: its inventory is the ConfigMap
	// skiff-<App> and its release records skiff.release.v1.<App>.v<N>,
	// both in Namespace. It must be a DNS-1123 label.
	App string
	// Namespace is given to namespaced objects without one and holds the
	// inventory and release records.
	Namespace string
	// CreateNamespace creates Namespace when it does not exist, labelled
	// as managed by skiff plus NamespaceLabels.
	CreateNamespace bool
	NamespaceLabels map[string]string
	// ClusterLabels are set on every cluster-scoped object applied (an
	// environment's app and environment labels, which its confinement
	// policy checks).
	ClusterLabels map[string]string
	// Force takes ownership of fields other managers own and adopts objects
	// another skiff inventory owns.
	Force bool
	// Prune deletes, after a successful apply, the objects of the previous
	// inventory that are no longer in the manifests.
	Prune bool
	// HistoryMax is how many release records to keep (0 keeps all).
	HistoryMax int
	// StatusCheck waits until every applied object is ready.
	StatusCheck         bool
	StatusCheckDeadline time.Duration
	TolerateFailures    bool
	OnFailure           FailurePolicy
	Release             ReleaseInfo
	// Secrets are Secrets whose values come from a vault
	// (internal/secrets): applied server-side with the manifests and kept
	// in the inventory, but the release record holds only a keyed digest of
	// each value (Record.Secrets), never the value or the object.
	Secrets []manifest.Object
	// RecordKey names the Secret in KeyNamespace whose key signs the
	// release records (RecordKeyName of an environment); empty means the
	// key of App in Namespace. A rollback re-applies only records it
	// verifies with this key.
	RecordKey string
	// keep are live Secrets a rollback keeps (in the inventory, not pruned,
	// not applied): those its record lists digests of.
	keep []ObjectRef
	// OnEvent, when set, receives progress as it happens. It may be called
	// from several goroutines at once.
	OnEvent func(Event)
}

// DefaultOptions are Skaffold's defaults: prune, status check with a
// 10-minute deadline, keep on failure, 10 revisions of history.
func DefaultOptions() Options {
	return Options{
		CreateNamespace:     true,
		Prune:               true,
		HistoryMax:          10,
		StatusCheck:         true,
		StatusCheckDeadline: 10 * time.Minute,
		OnFailure:           OnFailureKeep,
	}
}

// EventType says what an Event reports.
type EventType string

// The event types.
const (
	EventChange EventType = "change" // an object was applied, pruned or deleted
	EventStatus EventType = "status" // an object's status changed
	EventPhase  EventType = "phase"  // a step started: Message says which
)

// Event is progress reported while applying or deleting.
type Event struct {
	Type    EventType
	Change  Change       // for EventChange
	Status  status.Event // for EventStatus
	Message string       // for EventPhase
}

// Result is the outcome of an apply.
type Result struct {
	Changes []Change // in apply order, then pruned objects
	// Revision is the release record written, 0 when none; after a no-op
	// apply (NoOp), the revision that was already in place.
	Revision int
	// NoOp is true when the manifests were already in place: nothing was
	// written and no revision recorded (the newest record notes the
	// re-apply in Reapplied).
	NoOp     bool
	Statuses []status.Event // the last status of each object, when checked
	// RolledBack is the apply that restored the previous revision after a
	// failure with OnFailureRollback.
	RolledBack *Result
}

// Problem is one reason the manifests cannot be applied as they are.
type Problem struct {
	Object  string // Kind.group namespace/name, or empty for the whole set
	Origin  manifest.Origin
	Message string
}

func (p Problem) String() string {
	var b strings.Builder
	if o := p.Origin.String(); o != "" {
		b.WriteString(o + ": ")
	}
	if p.Object != "" {
		b.WriteString(p.Object + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ValidationError lists every problem found before anything was written:
// when Apply returns it, the cluster is unchanged.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	msg := e.Problems[0].String()
	if n := len(e.Problems) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more problem", n)
		if n > 1 {
			msg += "s"
		}
		msg += ")"
	}
	return msg + "; nothing was changed"
}

// Conflict is a field another manager owns.
type Conflict struct {
	Manager string
	Field   string
}

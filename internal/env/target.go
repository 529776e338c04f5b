package env

import (
	"fmt"
	"time"

	"github.com/skiff-dev/skiff/internal/config"
)

// Target is an environment resolved for one deploy: its namespace, labels
// and URL for this app, ref and user.
type Target struct {
	App         string
	Environment config.Environment
	Namespace   string
	Ref         Ref
	URL         string
	// ExpiresAt is when a dynamic environment may be collected; zero for
	// long-lived ones.
	ExpiresAt time.Time
}

// Resolve expands an environment's templates for app, ref and user. A
// dynamic environment needs a ref; its expiry is now + ttl.
func Resolve(app string, e config.Environment, ref Ref, user string, vars map[string]string, now time.Time) (*Target, error) {
	if e.Dynamic && ref.Name == "" {
		return nil, fmt.Errorf("environment %s is dynamic: it needs a ref (--ref BRANCH, or CI_COMMIT_REF_NAME in CI)", e.Name)
	}
	data := TemplateData{App: app, Name: e.Name, Ref: ref.Name, RefSlug: RefSlug(ref.Name), MergeRequest: ref.MergeRequest, User: user, Env: vars}
	ns, err := NamespaceName(e.Namespace, e.Dynamic, data)
	if err != nil {
		return nil, fmt.Errorf("environment %s: namespace: %w", e.Name, err)
	}
	data.Env = vars
	t := &Target{App: app, Environment: e, Namespace: ns, Ref: ref}
	if e.URL != "" {
		if t.URL, err = Expand(e.URL, data); err != nil {
			return nil, fmt.Errorf("environment %s: url: %w", e.Name, err)
		}
	}
	if e.Dynamic && e.TTL != "" {
		ttl, err := config.ParseDuration(e.TTL)
		if err != nil {
			return nil, fmt.Errorf("environment %s: ttl: %w", e.Name, err)
		}
		t.ExpiresAt = now.Add(ttl).UTC().Truncate(time.Second)
	}
	return t, nil
}

// Labels are the labels of the target's namespace when skiff creates it.
func (t *Target) Labels() map[string]string {
	return NamespaceLabels(t.App, t.Environment.Name, t.Ref, t.Environment.ImmutableNamespace, t.ExpiresAt)
}

// Annotations are the namespace annotations skiff keeps current on each
// deploy: the ref as given and the URL.
func (t *Target) Annotations() map[string]string {
	a := map[string]string{}
	if t.Ref.Name != "" {
		a[AnnotationRef] = t.Ref.Name
	}
	if t.URL != "" {
		a[AnnotationURL] = t.URL
	}
	return a
}

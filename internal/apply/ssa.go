package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"sync"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// mapping is where an object lives in the API.
type mapping struct {
	gvr        schema.GroupVersionResource
	namespaced bool
}

func (m mapping) path(namespace, name string) []string {
	var p []string
	if m.gvr.Group == "" {
		p = []string{"/api", m.gvr.Version}
	} else {
		p = []string{"/apis", m.gvr.Group, m.gvr.Version}
	}
	if m.namespaced {
		p = append(p, "namespaces", namespace)
	}
	return append(p, m.gvr.Resource, name)
}

// ssa server-side applies u and returns what the server returned and whether
// it created the object (HTTP 201), which a dynamic client cannot tell.
func (a *Applier) ssa(ctx context.Context, m mapping, u *unstructured.Unstructured, force, dryRun bool) (*unstructured.Unstructured, bool, error) {
	body, err := json.Marshal(u.Object)
	if err != nil {
		return nil, false, err
	}
	req := a.raw.Patch(types.ApplyPatchType).
		AbsPath(m.path(u.GetNamespace(), u.GetName())...).
		Param("fieldManager", FieldManager).
		Body(body)
	if force {
		req = req.Param("force", "true")
	}
	if dryRun {
		req = req.Param("dryRun", metav1.DryRunAll)
	}
	res := req.Do(ctx)
	if err := res.Error(); err != nil {
		return nil, false, err
	}
	var code int
	res.StatusCode(&code)
	raw, err := res.Raw()
	if err != nil {
		return nil, false, err
	}
	out := &unstructured.Unstructured{}
	if err := out.UnmarshalJSON(raw); err != nil {
		return nil, false, fmt.Errorf("decoding the API server's answer: %w", err)
	}
	return out, code == http.StatusCreated, nil
}

var conflictManager = regexp.MustCompile(`conflict with "([^"]*)"`)

// conflicts extracts the fields and managers of a server-side apply conflict.
func conflicts(err error) []Conflict {
	if !apierrors.IsConflict(err) {
		return nil
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil {
		return nil
	}
	var out []Conflict
	for _, c := range status.Status().Details.Causes {
		if c.Type != metav1.CauseTypeFieldManagerConflict {
			continue
		}
		mgr := c.Message
		if m := conflictManager.FindStringSubmatch(c.Message); m != nil {
			mgr = m[1]
		}
		out = append(out, Conflict{Manager: mgr, Field: c.Field})
	}
	return out
}

func describeConflicts(cs []Conflict) string {
	byManager := map[string][]string{}
	var order []string
	for _, c := range cs {
		if _, ok := byManager[c.Manager]; !ok {
			order = append(order, c.Manager)
		}
		byManager[c.Manager] = append(byManager[c.Manager], c.Field)
	}
	var parts []string
	for _, m := range order {
		parts = append(parts, fmt.Sprintf("%s owned by %q", strings.Join(byManager[m], ", "), m))
	}
	return "conflict: " + strings.Join(parts, "; ") + "; change the manifests to agree, or use --force to take ownership"
}

// unchanged reports whether applying would leave live as it is: the dry-run
// result equals the live object apart from status and bookkeeping, and
// skiff's apply entry in managedFields (fields owned and their timestamp,
// which the server bumps on any change) is the same.
func unchanged(live, dry *unstructured.Unstructured) bool {
	if live == nil || dry == nil {
		return false
	}
	if !reflect.DeepEqual(applyEntry(live), applyEntry(dry)) || applyEntry(live) == nil {
		return false
	}
	return reflect.DeepEqual(comparable(live), comparable(dry))
}

func applyEntry(u *unstructured.Unstructured) any {
	entries, _, _ := unstructured.NestedSlice(u.Object, "metadata", "managedFields")
	for _, e := range entries {
		m, ok := e.(map[string]any)
		if ok && m["manager"] == FieldManager && m["operation"] == "Apply" && (m["subresource"] == nil || m["subresource"] == "") {
			return m
		}
	}
	return nil
}

func comparable(u *unstructured.Unstructured) map[string]any {
	c := u.DeepCopy().Object
	delete(c, "status")
	unstructured.RemoveNestedField(c, "metadata", "resourceVersion")
	unstructured.RemoveNestedField(c, "metadata", "managedFields")
	unstructured.RemoveNestedField(c, "metadata", "generation")
	return c
}

// allowed asks the API server whether the caller may do verb on the
// resource in namespace, for objects that cannot be dry-run yet (their
// namespace or CRD does not exist before the apply).
func (a *Applier) allowed(ctx context.Context, verb string, gvr schema.GroupVersionResource, namespace string) (bool, string, error) {
	// Objects of one kind in one namespace share the answer: ask once.
	v, _ := a.access.LoadOrStore(accessKey{verb, gvr, namespace}, &accessAnswer{})
	ans := v.(*accessAnswer)
	ans.once.Do(func() { ans.ok, ans.reason, ans.err = a.askAllowed(ctx, verb, gvr, namespace) })
	return ans.ok, ans.reason, ans.err
}

// accessKey and accessAnswer memoise access reviews for one apply.
type accessKey struct {
	verb      string
	gvr       schema.GroupVersionResource
	namespace string
}

type accessAnswer struct {
	once   sync.Once
	ok     bool
	reason string
	err    error
}

func (a *Applier) askAllowed(ctx context.Context, verb string, gvr schema.GroupVersionResource, namespace string) (bool, string, error) {
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: verb, Group: gvr.Group, Resource: gvr.Resource, Namespace: namespace,
		},
	}}
	res, err := a.core.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return false, "", fmt.Errorf("checking permission to %s %s in namespace %q: %w", verb, gvr.GroupResource(), namespace, err)
	}
	return res.Status.Allowed, res.Status.Reason, nil
}

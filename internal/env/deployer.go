package env

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/kubeclient"
)

// DeployerSubjects are who deploys environment e, for its RBAC and the
// deploy role's binding in a new dynamic namespace: the --subject values
// given (user:NAME, group:NAME, serviceaccount:NAMESPACE:NAME), else the
// identity the environment impersonates (as, asGroups). It is empty when
// neither names anyone.
func DeployerSubjects(e config.Environment, given []string) ([]rbacv1.Subject, error) {
	var subs []rbacv1.Subject
	for _, s := range given {
		sub, err := ParseSubject(s)
		if err != nil {
			return nil, err
		}
		subs = append(subs, sub)
	}
	if len(subs) > 0 {
		return subs, nil
	}
	if e.As != "" {
		subs = append(subs, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: e.As})
	}
	for _, grp := range e.AsGroups {
		subs = append(subs, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: grp})
	}
	return subs, nil
}

// subjectOf turns a Kubernetes user name into an RBAC subject: a service
// account for system:serviceaccount:NS:NAME, else a user.
func subjectOf(username string) rbacv1.Subject {
	if rest, ok := strings.CutPrefix(username, "system:serviceaccount:"); ok {
		if ns, name, ok := strings.Cut(rest, ":"); ok {
			return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}
		}
	}
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: username}
}

// admissionWait bounds the wait for the confinement policy to learn a new
// namespace's labels.
const admissionWait = 15 * time.Second

// bindDeployer gives the deployer of a dynamic environment its rights in a
// new namespace, when `skiff env rbac` installed the environment's deploy
// role. It returns a note for people when there is nothing it may do
// (no deploy role, or the deployer may not bind it and so has its rights
// otherwise), and an error when binding fails.
func bindDeployer(ctx context.Context, client kubeclient.Interface, app string, e config.Environment, namespace string) (string, error) {
	role := DeployRoleName(app, e.Name)
	// A deployer restricted to what env rbac grants may not read cluster
	// roles; it may bind this one, so a forbidden read still goes on.
	_, err := client.RbacV1().ClusterRoles().Get(ctx, role, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return "", nil // env rbac was not installed: nothing to bind
	case err != nil && !apierrors.IsForbidden(err):
		return "", fmt.Errorf("reading cluster role %s: %w", role, err)
	}
	subjects, err := DeployerSubjects(e, nil)
	if err != nil {
		return "", err
	}
	if len(subjects) == 0 {
		// No impersonation: bind whoever is deploying.
		review, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			return "", fmt.Errorf("finding out who deploys, to bind %s: %w", role, err)
		}
		subjects = append(subjects, subjectOf(review.Status.UserInfo.Username))
	}
	// Ask the authorizer first: a deployer RBAC does not let bind has its
	// rights some other way. After a yes, a refusal can only come from
	// admission, which is the next condition.
	for _, attrs := range []authorizationv1.ResourceAttributes{
		{Namespace: namespace, Verb: "create", Group: rbacv1.GroupName, Resource: "rolebindings"},
		{Verb: "bind", Group: rbacv1.GroupName, Resource: "clusterroles", Name: role},
	} {
		ok, err := allowed(ctx, client, attrs)
		if err != nil {
			return "", err
		}
		if !ok {
			return fmt.Sprintf("not allowed to %s %s: leaving the deployer's rights in namespace %s as they are", attrs.Verb, attrs.Resource, namespace), nil
		}
	}
	rb := DeployRoleBinding(app, e.Name, namespace, subjects)
	// The confinement policy judges by the namespace's labels, which the
	// API server's admission cache learns a moment after the namespace is
	// created; until then it refuses a request the authorizer allows.
	var last error
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, admissionWait, true, func(ctx context.Context) (bool, error) {
		_, err := client.RbacV1().RoleBindings(namespace).Create(ctx, rb, metav1.CreateOptions{FieldManager: "skiff"})
		switch {
		case err == nil, apierrors.IsAlreadyExists(err):
			return true, nil
		case apierrors.IsForbidden(err):
			last = err
			return false, nil
		}
		return false, err
	})
	if err != nil {
		if last != nil && errors.Is(err, context.DeadlineExceeded) {
			err = last
		}
		return "", fmt.Errorf("binding %s in namespace %s: %w", role, namespace, err)
	}
	return "", nil
}

// allowed asks the authorizer whether the client's identity may do attrs.
func allowed(ctx context.Context, client kubeclient.Interface, attrs authorizationv1.ResourceAttributes) (bool, error) {
	r, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs},
	}, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("asking whether the deployer may %s %s: %w", attrs.Verb, attrs.Resource, err)
	}
	return r.Status.Allowed, nil
}

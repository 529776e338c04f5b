package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/env"
	"github.com/skiff-dev/skiff/internal/manifest"
	"github.com/skiff-dev/skiff/internal/render"
)

// envProtectOptions are skiff env protect's.
type envProtectOptions struct{ s *session }

func newEnvProtectCmd(s *session) *cobra.Command {
	o := &envProtectOptions{s: s}
	return &cobra.Command{
		Use:   "protect",
		Short: "Make the API server enforce immutable namespaces",
		Long: "Install a ValidatingAdmissionPolicy and its binding (admissionregistration.k8s.io/v1,\n" +
			"CEL) that deny deleting a namespace labelled skiff.dev/immutable=true and deny removing\n" +
			"or changing that label. With a configuration, the existing namespaces of environments\n" +
			"with immutableNamespace: true are labelled too. Needs cluster-admin rights.",
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runVerb(cmd.Context(), o) },
	}
}

func (o *envProtectOptions) Validate() error { return nil }

func (o *envProtectOptions) Run(ctx context.Context) error {
	c, err := o.s.connect("", nil)
	if err != nil {
		return err
	}
	if err := env.Protect(ctx, c.Dynamic); err != nil {
		return err
	}
	p, err := o.s.optionalProject()
	if err != nil {
		return err
	}
	var marked []*env.Target
	if p != nil {
		if marked, err = env.MarkImmutable(ctx, c, p, o.s.facts(p).User, config.Environ()); err != nil {
			return err
		}
	}
	// Return only once a delete of an immutable namespace is refused: the
	// API server loads a new policy a moment after it is written.
	if err := env.WaitProtected(ctx, c.Core); err != nil {
		return err
	}
	fmt.Fprintf(o.s.streams.Out, "ValidatingAdmissionPolicy %s installed and enforced\n", env.PolicyName)
	for _, t := range marked {
		fmt.Fprintf(o.s.streams.Out, "Namespace %s (environment %s) is immutable\n", t.Namespace, t.Environment.Name)
	}
	return nil
}

// envRBACOptions are skiff env rbac's.
type envRBACOptions struct {
	s        *session
	subjects []string
	name     string
	apply    bool
}

func newEnvRBACCmd(s *session) *cobra.Command {
	o := &envRBACOptions{s: s}
	cmd := &cobra.Command{
		Use:   "rbac NAME",
		Short: "Print least-privilege RBAC for a CI deployer of an environment",
		Long: "Print a Role and RoleBinding (for a dynamic environment: ClusterRoles and a\n" +
			"ClusterRoleBinding that let the deployer create its namespaces and bind the deploy role\n" +
			"in them) granting exactly what deploying the environment's rendered manifests needs.\n" +
			"Cluster-scoped objects of the manifests are granted by name only; a dynamic environment's\n" +
			"must be listed in its allowClusterObjects. Install it as a cluster administrator with\n" +
			"--apply, which returns once the API server enforces the confinement policy.",
		Example: "  skiff env rbac staging --subject serviceaccount:ci:deployer\n" +
			"  skiff env rbac review --subject user:gitlab-review-deployer",
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			o.name = a[0]
			return runVerb(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.apply, "apply", false, "install it (as the current, administrator identity) instead of printing it, and return once the API server enforces the confinement policy")
	cmd.Flags().StringSliceVar(&o.subjects, "subject", nil, "who deploys: user:NAME, group:NAME or serviceaccount:NAMESPACE:NAME (repeatable; default: the environment's as/asGroups)")
	return cmd
}

func (o *envRBACOptions) Validate() error {
	for _, sub := range o.subjects {
		if _, err := env.ParseSubject(sub); err != nil {
			return usageError("--subject: %v", err)
		}
	}
	return nil
}

func (o *envRBACOptions) Run(ctx context.Context) error {
	// A dynamic environment's RBAC is cluster-wide; the placeholder ref only
	// gives the render a namespace.
	p, e, _, t, err := o.s.envNamespace(o.name, "rbac-template")
	if err != nil {
		return err
	}
	subs, err := env.DeployerSubjects(*e, o.subjects)
	if err != nil {
		return err
	}
	res, err := o.s.render(ctx, p, o.s.registry(p), renderRequest{digestSource: render.DigestNone, namespace: t.Namespace, offline: true})
	if err != nil {
		return err
	}
	opts := env.RBACOptions{App: p.Name(), Environment: e.Name, Dynamic: e.Dynamic, Subjects: subs,
		Objects: env.ObjectsOf(res.Objects), AllowClusterObjects: e.AllowClusterObjects}
	if !e.Dynamic {
		opts.Namespace = t.Namespace
	}
	objs, err := env.RBAC(opts)
	if err != nil {
		return err
	}
	if o.apply {
		return o.install(ctx, p, e, subs, objs)
	}
	out := make([]manifest.Object, len(objs))
	for i, u := range objs {
		out[i] = manifest.Object{Unstructured: u}
	}
	return manifest.Encode(o.s.streams.Out, out)
}

// install applies the RBAC objects as the administrator and, for a dynamic
// environment, waits until the API server enforces its confinement policy.
func (o *envRBACOptions) install(ctx context.Context, p *config.Project, e *config.Environment, subs []rbacv1.Subject, objs []*unstructured.Unstructured) error {
	c, err := o.s.connect(e.KubeContext, nil)
	if err != nil {
		return err
	}
	if err := env.Install(ctx, c.Dynamic, objs); err != nil {
		return err
	}
	for _, u := range objs {
		what := u.GetKind() + " " + u.GetName()
		if u.GetNamespace() != "" {
			what += " in namespace " + u.GetNamespace()
		}
		fmt.Fprintf(o.s.streams.Out, "%s installed\n", what)
	}
	// The deployer may only read its record key: make it now.
	key := apply.RecordKeyName(p.Name(), e.Name)
	if err := apply.NewRecords(c.Core).EnsureRecordKey(ctx, key); err != nil {
		return err
	}
	fmt.Fprintf(o.s.streams.Out, "record key Secret %s in namespace %s ready (release records are signed with it)\n", key, apply.KeyNamespace)
	if !e.Dynamic {
		return nil
	}
	if err := env.WaitConfined(ctx, c.Target.Config, p.Name(), e.Name, subs); err != nil {
		return err
	}
	fmt.Fprintf(o.s.streams.Out, "the %s deployer is confined to the environment's namespaces\n", e.Name)
	return nil
}

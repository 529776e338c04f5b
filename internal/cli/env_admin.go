package cli

import (
	"encoding/json"
	"fmt"

	"github.com/skiff-dev/skiff/internal/env"
	"github.com/skiff-dev/skiff/internal/manifest"
	"github.com/skiff-dev/skiff/internal/render"
	"github.com/spf13/cobra"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

func newEnvProtectCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "protect",
		Short: "Make the API server enforce immutable namespaces",
		Long: "Install a ValidatingAdmissionPolicy and its binding (admissionregistration.k8s.io/v1,\n" +
			"CEL) that deny deleting a namespace labelled skiff.dev/immutable=true and deny removing\n" +
			"or changing that label. With a configuration, the existing namespaces of environments\n" +
			"with immutableNamespace: true are labelled too. Needs cluster-admin rights.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := g.clients(nil)
			if err != nil {
				return err
			}
			if err := env.Protect(ctx, c.dyn); err != nil {
				return err
			}
			fmt.Fprintf(g.streams.Out, "ValidatingAdmissionPolicy %s installed\n", env.PolicyName)
			if !g.hasConfig() {
				return nil
			}
			p, err := g.loadProject(cmd)
			if err != nil {
				return err
			}
			for _, e := range p.Environments() {
				if !e.ImmutableNamespace || e.Dynamic {
					continue
				}
				t, err := resolveTarget(p.Name(), &e, env.Ref{})
				if err != nil {
					return err
				}
				if _, ok, err := env.GetNamespace(ctx, c.kube, t.Namespace); err != nil || !ok {
					continue
				}
				patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{env.LabelImmutable: "true"}}})
				if _, err := c.kube.CoreV1().Namespaces().Patch(ctx, t.Namespace, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "skiff"}); err != nil {
					return fmt.Errorf("labelling namespace %s immutable: %w", t.Namespace, err)
				}
				fmt.Fprintf(g.streams.Out, "Namespace %s (environment %s) is immutable\n", t.Namespace, e.Name)
			}
			return nil
		},
	}
	return cmd
}

func newEnvRBACCmd(g *globalOptions) *cobra.Command {
	var subjects []string
	cmd := &cobra.Command{
		Use:   "rbac NAME",
		Short: "Print least-privilege RBAC for a CI deployer of an environment",
		Long: "Print a Role and RoleBinding (for a dynamic environment: ClusterRoles and a\n" +
			"ClusterRoleBinding that let the deployer create its namespaces and bind the deploy role\n" +
			"in them) granting exactly what deploying the environment's rendered manifests needs.\n" +
			"Apply the output as a cluster administrator, e.g. skiff env rbac review | skiff apply -.",
		Example: "  skiff env rbac staging --subject serviceaccount:ci:deployer\n" +
			"  skiff env rbac review --subject user:gitlab-review-deployer",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// A dynamic environment's RBAC is cluster-wide; the placeholder ref only
			// gives the render a namespace.
			p, e, t, err := g.envNamespace(cmd, args[0], "rbac-template")
			if err != nil {
				return err
			}
			var subs []rbacv1.Subject
			for _, s := range subjects {
				sub, err := env.ParseSubject(s)
				if err != nil {
					return usageError("--subject: %v", err)
				}
				subs = append(subs, sub)
			}
			if len(subs) == 0 {
				if e.As != "" {
					subs = append(subs, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: e.As})
				}
				for _, grp := range e.AsGroups {
					subs = append(subs, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: grp})
				}
			}
			ropts, err := g.renderOptionsFor(p, &renderFlags{DigestSource: string(render.DigestNone), Offline: true})
			if err != nil {
				return err
			}
			ropts.Namespace = t.Namespace
			res, err := render.Render(cmd.Context(), ropts)
			if err != nil {
				return err
			}
			var kinds []schema.GroupVersionKind
			seen := map[schema.GroupVersionKind]bool{}
			for _, o := range res.Objects {
				if gvk := o.GroupVersionKind(); !seen[gvk] {
					seen[gvk] = true
					kinds = append(kinds, gvk)
				}
			}
			o := env.RBACOptions{App: p.Name(), Environment: e.Name, Dynamic: e.Dynamic, Subjects: subs, Kinds: kinds}
			if !e.Dynamic {
				o.Namespace = t.Namespace
			}
			objs, err := env.RBAC(o)
			if err != nil {
				return err
			}
			out := make([]manifest.Object, len(objs))
			for i, u := range objs {
				out[i] = manifest.Object{Unstructured: u}
			}
			return manifest.Encode(g.streams.Out, out)
		},
	}
	cmd.Flags().StringSliceVar(&subjects, "subject", nil, "who deploys: user:NAME, group:NAME or serviceaccount:NAMESPACE:NAME (repeatable; default: the environment's as/asGroups)")
	return cmd
}

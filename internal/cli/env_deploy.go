package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/env"
	"github.com/skiff-dev/skiff/internal/manifest"
	"github.com/skiff-dev/skiff/internal/release"
	"github.com/skiff-dev/skiff/internal/render"
	"github.com/spf13/cobra"
	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

type envDeployFlags struct {
	apply        applyFlags
	render       renderFlags
	Ref          string
	MergeRequest string
	Release      string
	Approve      bool
}

func newEnvDeployCmd(g *globalOptions) *cobra.Command {
	f := &envDeployFlags{}
	cmd := &cobra.Command{
		Use:   "deploy NAME",
		Short: "Render for an environment and apply to its namespace",
		Long: "Deploy to an environment: render the manifests with the environment's profiles and the\n" +
			"built images (-a), or take them unchanged from a release (--release), and apply them to\n" +
			"the environment's namespace and cluster with its onFailure policy. Protected\n" +
			"environments take only tags matching requireTag, with approval (--approve, or a\n" +
			"confirmation on a terminal). Namespaces skiff creates are labelled with the app,\n" +
			"environment, ref and, for dynamic environments, when they expire.",
		Example: "  skiff env deploy review --ref \"$CI_COMMIT_REF_NAME\" -a build.json\n" +
			"  skiff env deploy staging --release v1.2.0\n" +
			"  skiff env deploy production --release v1.2.0 --approve",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.apply.validate(); err != nil {
				return err
			}
			if f.Release != "" && (f.render.BuildArtifacts != "" || len(f.render.Images) > 0) {
				return usageError("--release takes the manifests from the release; do not combine it with -a or -i")
			}
			return g.runEnvDeploy(cmd, f, args[0])
		},
	}
	f.apply.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.Ref, "ref", "", "branch or tag being deployed (default: CI_COMMIT_TAG, CI_COMMIT_REF_NAME, GitHub's ref, else the git checkout)")
	fl.StringVar(&f.MergeRequest, "merge-request", "", "merge request number, for namespace templates (default: CI_MERGE_REQUEST_IID)")
	fl.StringVar(&f.Release, "release", "", "deploy the manifests stored in this release: a tag of the release repository, or a full reference")
	fl.BoolVar(&f.Approve, "approve", false, "approve a deploy to an environment that requires approval")
	fl.StringVarP(&f.render.BuildArtifacts, "build-artifacts", "a", "", "artifacts file written by skiff build --file-output; - reads standard input")
	fl.StringSliceVarP(&f.render.Images, "images", "i", nil, "pre-built images as NAME=REF (repeatable; wins over -a)")
	fl.StringVar(&f.render.DigestSource, "digest-source", "", "where image references come from: tag (default), remote, none")
	return cmd
}

func (g *globalOptions) runEnvDeploy(cmd *cobra.Command, f *envDeployFlags, name string) error {
	ctx := cmd.Context()
	p, e, err := g.loadEnvironment(cmd, name)
	if err != nil {
		return err
	}
	app := p.Name()
	if f.apply.App != "" {
		app = f.apply.App
	}
	ref := resolveRef(f.Ref, f.MergeRequest)
	var rel *release.Release
	if f.Release != "" {
		if rel, err = g.fetchRelease(ctx, p, app, f.Release); err != nil {
			return err
		}
		if rel.Metadata.App != app {
			return fmt.Errorf("release %s is of application %q, not %q", rel.Ref, rel.Metadata.App, app)
		}
		ref = env.Ref{Name: rel.Metadata.Tag, Tag: true, Commit: rel.Metadata.Commit, MergeRequest: ref.MergeRequest}
	}
	t, err := resolveTarget(app, e, ref)
	if err != nil {
		return err
	}
	if err := g.checkProtection(*e, ref, t.Namespace, f.Approve); err != nil {
		return err
	}
	var objs []manifest.Object
	if rel != nil {
		data, err := rel.Manifests(ctx, e.Name)
		if err != nil {
			return err
		}
		if objs, err = manifest.Parse(data, rel.Ref.String()+"#"+e.Name); err != nil {
			return err
		}
		fmt.Fprintf(g.streams.Err, "release %s: %d objects for %s, verified\n", rel.Ref, len(objs), e.Name)
	} else {
		if f.render.BuildArtifacts == "" && len(f.render.Images) == 0 && len(p.Artifacts()) > 0 && f.render.DigestSource != string(render.DigestNone) {
			return fmt.Errorf("no builds given: pass -a FILE (from skiff build --file-output), -i NAME=REF, or --release")
		}
		builds, err := g.readBuilds(&f.render)
		if err != nil {
			return err
		}
		if objs, err = g.renderForEnvironment(ctx, p, builds, f.render.DigestSource, t.Namespace); err != nil {
			return err
		}
	}
	target, err := g.envKube(e, t.Namespace)
	if err != nil {
		return err
	}
	opts, err := f.apply.options(cmd, settingsOf(p), target)
	if err != nil {
		return err
	}
	opts.App = app
	opts.Namespace, opts.CreateNamespace, opts.NamespaceLabels = t.Namespace, true, t.Labels()
	if !cmd.Flags().Changed("on-failure") && e.OnFailure != "" {
		opts.OnFailure = apply.FailurePolicy(e.OnFailure)
	}
	opts.Release.Tag, opts.Release.Commit = "", ref.Commit
	if ref.Tag {
		opts.Release.Tag = ref.Name
	}
	if rel != nil {
		opts.Release.Description = "release " + rel.Ref.String()
	}
	client, err := kubernetes.NewForConfig(target.Config)
	if err != nil {
		return err
	}
	if e.Dynamic {
		// The deployer of a dynamic environment gets its rights in a new
		// namespace from a RoleBinding made with it, before anything else
		// is applied there.
		created, err := env.EnsureNamespace(ctx, client, t.Namespace, t.Labels(), t.Annotations())
		if err != nil {
			return err
		}
		if created {
			g.bindDeployer(ctx, client, app, e, t.Namespace)
		}
	}
	res, applyErr := g.applyObjects(cmd, &f.apply, target, opts, objs)
	if res != nil && res.Revision > 0 {
		if err := env.Touch(ctx, client, t.Namespace, t.Labels(), t.Annotations()); err != nil {
			g.warn("%v", err)
		}
	}
	if applyErr != nil {
		return applyErr
	}
	where := "namespace " + t.Namespace
	if t.URL != "" {
		where += ", " + t.URL
	}
	fmt.Fprintf(g.streams.Err, "environment %s: %s deployed (%s)\n", e.Name, refDescription(ref), where)
	return nil
}

// renderForEnvironment renders the project's manifests with builds into
// namespace, without contacting the cluster.
func (g *globalOptions) renderForEnvironment(ctx context.Context, p *config.Project, builds []artifact.Build, digestSource, namespace string) ([]manifest.Object, error) {
	ropts, err := g.renderOptionsFor(p, &renderFlags{DigestSource: digestSource, Offline: true})
	if err != nil {
		return nil, err
	}
	ropts.Builds, ropts.Namespace = builds, namespace
	res, err := render.Render(ctx, ropts)
	if err != nil {
		return nil, err
	}
	g.reportRender(res)
	return res.Objects, nil
}

// bindDeployer gives the deployer of a dynamic environment its rights in a
// new namespace, when `skiff env rbac` installed the environment's deploy
// role. Without that role there is nothing to bind.
func (g *globalOptions) bindDeployer(ctx context.Context, client kubernetes.Interface, app string, e *config.Environment, namespace string) {
	role := env.DeployRoleName(app, e.Name)
	// A deployer restricted to what env rbac grants may not read cluster
	// roles; it may bind this one, so a forbidden read still goes on.
	if _, err := client.RbacV1().ClusterRoles().Get(ctx, role, metav1.GetOptions{}); err != nil && !apierrors.IsForbidden(err) {
		return
	}
	var subjects []rbacv1.Subject
	if e.As != "" {
		subjects = append(subjects, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: e.As})
	}
	for _, grp := range e.AsGroups {
		subjects = append(subjects, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: grp})
	}
	if len(subjects) == 0 {
		// No impersonation: bind whoever is deploying.
		review, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			g.warn("finding out who deploys, to bind %s: %v", role, err)
			return
		}
		subjects = append(subjects, subjectOf(review.Status.UserInfo.Username))
	}
	rb := env.DeployRoleBinding(app, e.Name, namespace, subjects)
	// The confinement policy judges by the namespace's labels, which the
	// API server's admission cache learns a moment after the namespace is
	// created: until then it refuses, so wait for it to know the namespace.
	policy := env.ConfinementPolicyName(app, e.Name)
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := client.RbacV1().RoleBindings(namespace).Create(ctx, rb, metav1.CreateOptions{FieldManager: "skiff"})
		switch {
		case err == nil, apierrors.IsAlreadyExists(err):
			return
		case apierrors.IsForbidden(err) && strings.Contains(err.Error(), policy) && time.Now().Before(deadline):
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		case apierrors.IsForbidden(err):
			return // not allowed to bind: the deployer has its rights otherwise
		default:
			g.warn("binding %s in namespace %s: %v", role, namespace, err)
			return
		}
	}
}

// fetchRelease reads a release given as a tag of the project's release
// repository or as a full reference.
func (g *globalOptions) fetchRelease(ctx context.Context, p *config.Project, app, ref string) (*release.Release, error) {
	full := ref
	if !strings.Contains(ref, "/") {
		repo, err := release.Repository(releaseRepo(p), g.DefaultRepo, app)
		if err != nil {
			return nil, err
		}
		full = repo + ":" + ref
	}
	rel, err := g.releaseStore(p).Get(ctx, full)
	if err != nil && errors.Is(err, release.ErrTampered) {
		return nil, fmt.Errorf("%w; refusing to deploy", err)
	}
	return rel, err
}

func releaseRepo(p *config.Project) string {
	if p != nil && p.Skiff != nil && p.Skiff.Release != nil {
		return p.Skiff.Release.Repository
	}
	return ""
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

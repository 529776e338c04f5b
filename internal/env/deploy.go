package env

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/kube"
	"github.com/skiff-dev/skiff/internal/manifest"
	"github.com/skiff-dev/skiff/internal/release"
	"github.com/skiff-dev/skiff/internal/secrets"
)

// The steps of Deploy, in order; a failure names the step (StepError).
const (
	StepRelease    = "release"    // read and verify the release (--release)
	StepTarget     = "target"     // resolve the namespace, labels and URL
	StepProtection = "protection" // protected environments: tags, approval
	StepManifests  = "manifests"  // render, or take the release's manifests
	StepSecrets    = "secrets"    // read the environment's secrets from Vault or SOPS
	StepConnect    = "connect"    // the environment's cluster and identity
	StepNamespace  = "namespace"  // wait for a terminating one; create a dynamic one
	StepDeployer   = "deployer"   // bind the deploy role in a new dynamic namespace
	StepApply      = "apply"      // apply, status check, prune, release record
)

// DeployRequest is one deploy to an environment.
type DeployRequest struct {
	// App is the application; Environment the environment (with its
	// profiles already applied to the project the Render dependency uses).
	App         string
	Environment config.Environment
	// Ref is what is deployed; a release's own tag and commit replace it.
	Ref Ref
	// User is who deploys ({{.User}}), Vars the environment variables
	// templates see, Now the time expiry counts from.
	User string
	Vars map[string]string
	Now  time.Time
	// Release is the full reference of the release to deploy; empty means
	// render (see DeployDeps.Render).
	Release string
	// Approved approves a deploy that needs approval.
	Approved bool
	// Apply are the apply options the flags and configuration give; Deploy
	// sets the application, namespace, labels and release information.
	// OnFailureSet is true when --on-failure was given, which then wins
	// over the environment's onFailure.
	Apply        apply.Options
	OnFailureSet bool
	// NamespaceWait bounds the wait for a terminating namespace (default 2m).
	NamespaceWait time.Duration
}

// DeployDeps are what Deploy works with, made once by the caller.
type DeployDeps struct {
	// Connect reaches the environment's cluster as its deployer.
	Connect func(e *config.Environment) (*kube.Clients, error)
	// Releases reads releases.
	Releases *release.Store
	// Render renders the project's manifests into namespace.
	Render func(ctx context.Context, namespace string) ([]manifest.Object, error)
	// Confirm asks a person to approve; nil (or false) means no.
	Confirm func(question string) bool
	// Events receives progress; it may be nil.
	Events func(Event)
	// Secrets are how the environment's secrets are read (Vault's
	// environment variables).
	Secrets secrets.Options
}

// DeployResult says what Deploy did.
type DeployResult struct {
	Target *Target
	// Ref is what was deployed (a release's tag when deploying one).
	Ref Ref
	// Release is the release deployed, pinned by digest; nil when rendered.
	Release *release.Release
	// Apply is the apply's result (its change set, revision, statuses).
	Apply *apply.Result
	// Options are the apply options used.
	Options apply.Options
	// NamespaceCreated is true when Deploy created a dynamic namespace.
	NamespaceCreated bool
	// Images are the images the deployed manifests run.
	Images []string
}

// deployment is the state the steps of one Deploy share.
type deployment struct {
	deps    DeployDeps
	req     DeployRequest
	res     *DeployResult
	objs    []manifest.Object
	secrets []manifest.Object // the environment's Secrets, values read
	clients *kube.Clients
}

// Deploy deploys to an environment, step by step: release, target,
// protection, manifests, secrets, connect, namespace, deployer, apply.
// Nothing is written before the secrets step has read every secret. The
// result is
// returned also when the apply step fails, so the caller can show the
// change set and a failed revision.
func Deploy(ctx context.Context, deps DeployDeps, req DeployRequest) (*DeployResult, error) {
	if req.Now.IsZero() {
		req.Now = time.Now()
	}
	if req.NamespaceWait <= 0 {
		req.NamespaceWait = 2 * time.Minute
	}
	d := &deployment{deps: deps, req: req, res: &DeployResult{Ref: req.Ref}}
	err := runSteps(ctx, []step{
		{StepRelease, d.release},
		{StepTarget, d.target},
		{StepProtection, d.protection},
		{StepManifests, d.manifests},
		{StepSecrets, d.readSecrets},
		{StepConnect, d.connect},
		{StepNamespace, d.namespace},
		{StepDeployer, d.deployer},
		{StepApply, d.apply},
	})
	return d.res, err
}

func (d *deployment) release(ctx context.Context) error {
	if d.req.Release == "" {
		return nil
	}
	rel, err := d.deps.Releases.Get(ctx, d.req.Release)
	if errors.Is(err, release.ErrTampered) {
		return fmt.Errorf("%w; refusing to deploy", err)
	}
	if err != nil {
		return err
	}
	if rel.Metadata.App != d.req.App {
		return fmt.Errorf("release %s is of application %q, not %q", rel.Ref, rel.Metadata.App, d.req.App)
	}
	d.res.Release = rel
	d.res.Ref = Ref{Name: rel.Metadata.Tag, Tag: true, Commit: rel.Metadata.Commit, MergeRequest: d.req.Ref.MergeRequest}
	return nil
}

func (d *deployment) target(context.Context) error {
	t, err := Resolve(d.req.App, d.req.Environment, d.res.Ref, d.req.User, d.req.Vars, d.req.Now)
	d.res.Target = t
	return err
}

func (d *deployment) protection(context.Context) error {
	e, ref := d.req.Environment, d.res.Ref
	check := func(approved bool) error { return CheckDeploy(e, ref, approved) }
	if d.res.Release != nil {
		requested := d.req.Ref
		if tag := ReferenceTag(d.req.Release); tag != "" {
			requested = Ref{Name: tag, Tag: true}
		}
		check = func(approved bool) error { return CheckRelease(e, requested, ref, approved) }
	}
	err := check(d.req.Approved)
	if errors.Is(err, ErrApprovalRequired) && d.deps.Confirm != nil &&
		d.deps.Confirm(fmt.Sprintf("Deploy %s to %s (namespace %s)?", DescribeRef(ref), e.Name, d.res.Target.Namespace)) {
		return check(true)
	}
	return err
}

func (d *deployment) manifests(ctx context.Context) error {
	rel, e := d.res.Release, d.req.Environment
	if rel == nil {
		objs, err := d.deps.Render(ctx, d.res.Target.Namespace)
		d.objs = objs
		return err
	}
	data, err := rel.Manifests(ctx, e.Name)
	if err != nil {
		return err
	}
	if d.objs, err = manifest.Parse(data, rel.Ref.String()+"#"+e.Name); err != nil {
		return err
	}
	emitf(d.deps.Events, StepManifests, "release %s: %d objects for %s, verified", rel.Ref, len(d.objs), e.Name)
	return nil
}

// readSecrets reads every secret of the environment: a secret that cannot
// be read ends the deploy before anything is written (secrets.Error names
// the Secret, its key and the Vault path or SOPS file).
func (d *deployment) readSecrets(ctx context.Context) error {
	e := d.req.Environment
	got, err := secrets.Resolve(ctx, e, d.deps.Secrets)
	if err != nil {
		return err
	}
	for _, s := range got {
		o := s.Object(d.res.Target.Namespace)
		o.Origin = manifest.Origin{File: fmt.Sprintf("environments[%s].secrets[%s]", e.Name, s.Name)}
		d.secrets = append(d.secrets, o)
	}
	if len(got) > 0 {
		emitf(d.deps.Events, StepSecrets, "read %d secrets for %s", len(got), e.Name)
	}
	return nil
}

func (d *deployment) connect(context.Context) error {
	c, err := d.deps.Connect(&d.req.Environment)
	d.clients = c
	return err
}

func (d *deployment) namespace(ctx context.Context) error {
	t := d.res.Target
	if err := waitUntilGone(ctx, d.clients.Core, t.Namespace, d.req.NamespaceWait, d.deps.Events); err != nil {
		return err
	}
	if !d.req.Environment.Dynamic {
		return nil // apply creates it, labelled
	}
	// The deployer of a dynamic environment gets its rights in a new
	// namespace from a RoleBinding made with it, before anything else is
	// applied there: the namespace is created first, here.
	created, err := EnsureNamespace(ctx, d.clients.Core, t.Namespace, t.Labels(), t.Annotations())
	d.res.NamespaceCreated = created
	return err
}

func (d *deployment) deployer(ctx context.Context) error {
	if !d.res.NamespaceCreated {
		return nil
	}
	msg, err := bindDeployer(ctx, d.clients.Core, d.req.App, d.req.Environment, d.res.Target.Namespace)
	if msg != "" {
		emitf(d.deps.Events, StepDeployer, "%s", msg)
	}
	return err
}

func (d *deployment) apply(ctx context.Context) error {
	t, e, ref := d.res.Target, d.req.Environment, d.res.Ref
	opts := d.req.Apply
	opts.App = d.req.App
	opts.Namespace, opts.CreateNamespace, opts.NamespaceLabels = t.Namespace, true, t.Labels()
	opts.ClusterLabels = ClusterLabels(d.req.App, e.Name)
	opts.RecordKey = apply.RecordKeyName(d.req.App, e.Name)
	if !d.req.OnFailureSet && e.OnFailure != "" {
		opts.OnFailure = apply.FailurePolicy(e.OnFailure)
	}
	opts.Release.Tag, opts.Release.Commit = "", ref.Commit
	if ref.Tag {
		opts.Release.Tag = ref.Name
	}
	if rel := d.res.Release; rel != nil {
		opts.Release.Description = "release " + rel.Ref.String()
	}
	opts.Secrets = d.secrets
	opts.OnEvent = applyEvents(d.deps.Events, StepApply)
	d.res.Options = opts
	applier, err := d.clients.Applier()
	if err != nil {
		return err
	}
	res, applyErr := applier.Apply(ctx, d.objs, opts)
	d.res.Apply = res
	d.res.Images = apply.Images(d.objs)
	if res != nil && res.Revision > 0 {
		// A re-deploy extends a dynamic environment's expiry and records its
		// ref and URL, also when the revision failed.
		if err := Touch(ctx, d.clients.Core, t.Namespace, t.Labels(), t.Annotations()); err != nil {
			emitf(d.deps.Events, StepApply, "warning: %v", err)
		}
	}
	return applyErr
}

// DescribeRef names a ref for people: "tag v1", "ref main", or "the working
// tree" when there is none.
func DescribeRef(ref Ref) string {
	switch {
	case ref.Tag:
		return "tag " + ref.Name
	case ref.Name != "":
		return "ref " + ref.Name
	}
	return "the working tree"
}

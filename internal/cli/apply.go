package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/gitinfo"
	"github.com/skiff-dev/skiff/internal/manifest"
	"github.com/spf13/cobra"
)

// applyFlags are the flags of every command that applies manifests.
type applyFlags struct {
	App              string
	Force            bool
	Prune            bool
	HistoryMax       int
	StatusCheck      bool
	Deadline         time.Duration
	TolerateFailures bool
	OnFailure        string
	Output           string
}

func (f *applyFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.App, "app", "", "application name for the inventory and release records (default: metadata.name of the configuration, else the directory name)")
	fl.BoolVar(&f.Force, "force", false, "take ownership of fields other field managers own, and adopt objects of another skiff inventory")
	fl.BoolVar(&f.Force, "force-conflicts", false, "same as --force")
	_ = fl.MarkHidden("force-conflicts")
	fl.BoolVar(&f.Prune, "prune", true, "after a successful apply, delete the objects of the previous apply that are no longer in the manifests")
	fl.IntVar(&f.HistoryMax, "history-max", 10, "release records to keep (0 keeps all)")
	fl.BoolVar(&f.StatusCheck, "status-check", true, "wait until every applied object is ready (default: deploy.statusCheck, else true)")
	fl.DurationVar(&f.Deadline, "status-check-deadline", 10*time.Minute, "deadline of the status check for the whole set (default: deploy.statusCheckDeadlineSeconds, else 10m)")
	fl.BoolVar(&f.TolerateFailures, "tolerate-failures-until-deadline", false, "keep waiting through failing pods until the deadline instead of failing fast (default: deploy.tolerateFailuresUntilDeadline)")
	fl.StringVar(&f.OnFailure, "on-failure", "keep", "when the apply or status check fails: keep, rollback (re-apply the previous revision) or delete (what this apply created)")
	fl.StringVarP(&f.Output, "output", "o", "text", "change set format on stdout: text or json")
}

// deploySettings are the configuration's deploy section, merged over modules.
type deploySettings struct {
	App              string
	Namespace        string // deploy.kubectl.defaultNamespace
	KubeContext      string
	StatusCheck      *bool
	DeadlineSeconds  int
	TolerateFailures bool
}

// loadDeploySettings reads the configuration when there is one; apply also
// works on plain manifests without any (the application is then named after
// the working directory).
func (g *globalOptions) loadDeploySettings(cmd *cobra.Command) (deploySettings, error) {
	if !g.hasConfig() {
		wd, err := os.Getwd()
		if err != nil {
			return deploySettings{}, err
		}
		return deploySettings{App: (&config.Project{WorkDir: wd}).Name()}, nil
	}
	p, err := g.loadProject(cmd)
	if err != nil {
		return deploySettings{}, err
	}
	return settingsOf(p), nil
}

// settingsOf merges the deploy sections of p's modules: the first module
// that sets a value wins.
func settingsOf(p *config.Project) deploySettings {
	s := deploySettings{App: p.Name()}
	for _, c := range p.Configs {
		d := c.Deploy
		if s.StatusCheck == nil {
			s.StatusCheck = d.StatusCheck
		}
		if s.DeadlineSeconds == 0 {
			s.DeadlineSeconds = d.StatusCheckDeadlineSeconds
		}
		s.TolerateFailures = s.TolerateFailures || d.TolerateFailuresUntilDeadline
		if s.KubeContext == "" {
			s.KubeContext = d.KubeContext
		}
		if k := d.KubectlDeploy; k != nil && k.DefaultNamespace != nil && s.Namespace == "" {
			s.Namespace = *k.DefaultNamespace
		}
	}
	return s
}

func hasConfigFile() bool {
	for _, name := range config.DefaultFilenames {
		if _, err := os.Stat(name); err == nil {
			return true
		}
	}
	return false
}

// options turns flags, configuration and target into engine options.
// Flags given on the command line win over the configuration.
func (f *applyFlags) options(cmd *cobra.Command, s deploySettings, target *kubeTarget) (apply.Options, error) {
	o := apply.DefaultOptions()
	o.App = s.App
	if f.App != "" {
		o.App = f.App
	}
	o.Namespace = target.Namespace
	// A namespace someone asked for by name is created when missing; the
	// kubeconfig context's namespace is not.
	o.CreateNamespace = target.NamespaceExplicit
	if !target.NamespaceExplicit && s.Namespace != "" {
		o.Namespace, o.CreateNamespace = s.Namespace, true
	}
	o.Force, o.Prune, o.HistoryMax = f.Force, f.Prune, f.HistoryMax
	changed := cmd.Flags().Changed
	o.StatusCheck = f.StatusCheck
	if !changed("status-check") && s.StatusCheck != nil {
		o.StatusCheck = *s.StatusCheck
	}
	o.StatusCheckDeadline = f.Deadline
	if !changed("status-check-deadline") && s.DeadlineSeconds > 0 {
		o.StatusCheckDeadline = time.Duration(s.DeadlineSeconds) * time.Second
	}
	o.TolerateFailures = f.TolerateFailures || (!changed("tolerate-failures-until-deadline") && s.TolerateFailures)
	o.OnFailure, _ = apply.ParseFailurePolicy(f.OnFailure) // checked by validate
	o.Release = releaseInfo()
	return o, nil
}

// validate checks the flags before anything is read or contacted.
func (f *applyFlags) validate() error {
	if _, err := apply.ParseFailurePolicy(f.OnFailure); err != nil {
		return usageError("--on-failure: %v", err)
	}
	if err := checkOutput(f.Output, "text", "json"); err != nil {
		return err
	}
	if f.HistoryMax < 0 {
		return usageError("--history-max %d: use 0 (keep all) or more", f.HistoryMax)
	}
	if f.Deadline <= 0 {
		return usageError("--status-check-deadline %s: use a positive duration such as 5m", f.Deadline)
	}
	return nil
}

// releaseInfo is who and what is being released: CI's variables when set,
// else the local user and the git repository of the working directory.
func releaseInfo() apply.ReleaseInfo {
	r := apply.ReleaseInfo{
		Actor:  firstNonEmpty(os.Getenv("GITLAB_USER_LOGIN"), os.Getenv("GITHUB_ACTOR"), os.Getenv("USER")),
		Commit: firstNonEmpty(os.Getenv("CI_COMMIT_SHA"), os.Getenv("GITHUB_SHA")),
		Tag:    os.Getenv("CI_COMMIT_TAG"),
	}
	if r.Commit != "" {
		return r
	}
	repo, err := gitinfo.Open(".")
	if err != nil {
		return r
	}
	r.Commit, _ = repo.Commit()
	if tags, err := repo.Tags(); err == nil && len(tags) > 0 && r.Tag == "" {
		r.Tag = tags[0]
	}
	return r
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func newApplyCmd(g *globalOptions) *cobra.Command {
	f := &applyFlags{}
	cmd := &cobra.Command{
		Use:   "apply FILE... | -",
		Short: "Apply hydrated manifests with an inventory, prune and status check",
		Long: "Server-side apply hydrated manifests (files, or - for stdin) to the cluster as one\n" +
			"release of the application: validated by a dry run of the whole set first, so bad\n" +
			"input changes nothing; then Namespaces and CRDs, then the rest; then a status check\n" +
			"that watches every object; then objects of the previous release that left the set\n" +
			"are pruned. Each apply writes a release record (revision) for history and rollback.",
		Example: "  skiff apply -p production -n myapp --status-check=true myapp-1.0.0-production.yaml\n" +
			"  skiff render -n myapp | skiff apply -n myapp -",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			objs, err := manifest.ReadFiles(args, g.streams.In)
			if err != nil {
				return err
			}
			settings, err := g.loadDeploySettings(cmd)
			if err != nil {
				return err
			}
			return g.runApply(cmd, f, settings, objs)
		},
	}
	f.add(cmd)
	return cmd
}

// runApply applies objs with the flags and configuration of cmd, printing
// progress on stderr and the change set on stdout.
func (g *globalOptions) runApply(cmd *cobra.Command, f *applyFlags, settings deploySettings, objs []manifest.Object) error {
	target, err := g.kube(settings.KubeContext)
	if err != nil {
		return err
	}
	opts, err := f.options(cmd, settings, target)
	if err != nil {
		return err
	}
	_, err = g.applyObjects(cmd, f, target, opts, objs)
	return err
}

func printApplyResult(w io.Writer, format string, opts apply.Options, res *apply.Result) error {
	if format == "json" {
		return writeJSON(w, resultJSON(opts, res))
	}
	printChanges(w, res.Changes)
	if res.Revision > 0 {
		fmt.Fprintf(w, "%s revision %d in namespace %s: %s\n", opts.App, res.Revision, opts.Namespace, summary(res.Changes))
	}
	if rb := res.RolledBack; rb != nil {
		fmt.Fprintf(w, "rollback:\n")
		printChanges(w, rb.Changes)
		if rb.Revision > 0 {
			fmt.Fprintf(w, "%s revision %d in namespace %s: %s\n", opts.App, rb.Revision, opts.Namespace, summary(rb.Changes))
		}
	}
	return nil
}

func printChanges(w io.Writer, changes []apply.Change) {
	for _, c := range changes {
		line := fmt.Sprintf("%s %s", c.Object, c.Action)
		if c.Reason != "" {
			line += " (" + c.Reason + ")"
		}
		fmt.Fprintln(w, line)
	}
}

func summary(changes []apply.Change) string {
	counts := map[apply.Action]int{}
	for _, c := range changes {
		counts[c.Action]++
	}
	var parts []string
	for _, a := range []apply.Action{apply.Created, apply.Configured, apply.Unchanged, apply.Pruned, apply.Deleted, apply.Skipped} {
		if counts[a] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[a], a))
		}
	}
	if len(parts) == 0 {
		return "no changes"
	}
	return strings.Join(parts, ", ")
}

type changeJSON struct {
	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Action    string `json:"action"`
	Reason    string `json:"reason,omitempty"`
	Origin    string `json:"origin,omitempty"`
}

type statusJSON struct {
	Object  string `json:"object"`
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

type applyJSON struct {
	App        string       `json:"app"`
	Namespace  string       `json:"namespace"`
	Revision   int          `json:"revision,omitempty"`
	Changes    []changeJSON `json:"changes"`
	Statuses   []statusJSON `json:"statuses,omitempty"`
	RolledBack *applyJSON   `json:"rolledBack,omitempty"`
}

func resultJSON(opts apply.Options, res *apply.Result) *applyJSON {
	out := &applyJSON{App: opts.App, Namespace: opts.Namespace, Revision: res.Revision, Changes: changesJSON(res.Changes)}
	for _, s := range res.Statuses {
		out.Statuses = append(out.Statuses, statusJSON{Object: s.Ref.String(), Status: string(s.Result.Status), Message: s.Result.Message})
	}
	if res.RolledBack != nil {
		out.RolledBack = resultJSON(opts, res.RolledBack)
	}
	return out
}

func changesJSON(changes []apply.Change) []changeJSON {
	out := []changeJSON{}
	for _, c := range changes {
		out = append(out, changeJSON{
			Group: c.Object.Group, Kind: c.Object.Kind, Namespace: c.Object.Namespace, Name: c.Object.Name,
			Action: string(c.Action), Reason: c.Reason, Origin: c.Origin.String(),
		})
	}
	return out
}

package cli

import (
	"bytes"
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/render"
	"github.com/skiff-dev/skiff/internal/secrets"
)

// renderOptions are skaffold render's flags, with Skaffold's names.
type renderOptions struct {
	s           *session
	builds      buildsFlags
	render      renderFlags
	output      string
	offline     bool
	environment string
}

func newRenderCmd(s *session) *cobra.Command {
	o := &renderOptions{s: s}
	cmd := &cobra.Command{
		Use:   "render",
		Short: "Render hydrated manifests with images pinned by digest",
		Long: "Render the configuration's manifests (rawYaml, kustomize, helm) in-process, replace the\n" +
			"images the project builds with the references in the artifacts file, set the namespace\n" +
			"of namespaced objects that have none, and write one deterministic YAML stream.",
		Example: "  skiff render -p production -n myapp -a pipeline-artifacts.json -o myapp-1.0.0-production.yaml\n" +
			"  skiff build -q | skiff render -a - --offline",
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runVerb(cmd.Context(), o) },
	}
	fl := cmd.Flags()
	o.builds.add(fl)
	o.render.addLabels(fl)
	o.render.addDigestSource(fl)
	fl.StringVarP(&o.output, "output", "o", "", "write the manifests to this file instead of standard output")
	fl.BoolVar(&o.offline, "offline", false, "never contact a cluster: kinds neither built in nor defined by a CRD in the manifests are assumed namespaced")
	fl.StringVar(&o.environment, "environment", "", "render for this environment: its profiles and namespace, and its secrets as placeholders (values are read only by skiff env deploy)")
	return cmd
}

func (o *renderOptions) Validate() error {
	if err := o.render.validate(); err != nil {
		return err
	}
	return o.builds.validate()
}

func (o *renderOptions) Run(ctx context.Context) error {
	p, err := o.s.project()
	if err != nil {
		return err
	}
	namespace := o.s.flags.Namespace
	var e *config.Environment
	if o.environment != "" {
		if p, e, err = o.s.environment(p, o.environment); err != nil {
			return err
		}
		facts := o.s.facts(p)
		t, err := envTarget(p, e, facts, facts.RefFor("", ""))
		if err != nil {
			return err
		}
		namespace = t.Namespace
	}
	res, err := o.s.renderWithFlags(ctx, p, &o.builds, &o.render, namespace, o.offline)
	if err != nil {
		return err
	}
	if e != nil {
		res.Objects = append(res.Objects, secrets.Placeholders(*e, namespace)...)
	}
	var buf bytes.Buffer
	if err := res.Encode(&buf); err != nil {
		return fmt.Errorf("encoding the manifests: %w", err)
	}
	if o.output == "" {
		_, err := o.s.streams.Out.Write(buf.Bytes())
		return err
	}
	return writeFileAtomic(o.output, buf.Bytes())
}

// renderWithFlags renders p with the image and render flags into namespace
// (-n's, or an environment's): skiff render and skiff deploy.
func (s *session) renderWithFlags(ctx context.Context, p *config.Project, builds *buildsFlags, rf *renderFlags, namespace string, offline bool) (*render.Result, error) {
	bs, err := builds.read(s.streams.In)
	if err != nil {
		return nil, err
	}
	labels, _ := rf.labelMap() // checked by validate
	return s.render(ctx, p, s.registry(p), renderRequest{
		builds: bs, digestSource: render.DigestSource(rf.digestSource), labels: labels,
		namespace: namespace, offline: offline,
	})
}

package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/env"
)

// envListOptions are skiff env list's.
type envListOptions struct {
	s      *session
	output string
}

func newEnvListCmd(s *session) *cobra.Command {
	o := &envListOptions{s: s}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Show every environment: what is deployed where, by whom, and whether it is healthy",
		Long: "List the configured environments and every live dynamic one: namespace, revision,\n" +
			"version (tag or commit), images, when and by whom it was deployed, health (the\n" +
			"kstatus of the inventory's objects) and expiry.",
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runVerb(cmd.Context(), o) },
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	return cmd
}

func (o *envListOptions) Validate() error { return checkOutput(o.output, "table", "json") }

func (o *envListOptions) Run(ctx context.Context) error {
	p, err := o.s.project()
	if err != nil {
		return err
	}
	rows, err := env.List(ctx, p, o.s.facts(p).User, config.Environ(), o.s.environments())
	if err != nil {
		return err
	}
	if o.output == "json" {
		if rows == nil {
			rows = []env.Row{}
		}
		return writeJSON(o.s.streams.Out, rows)
	}
	return printEnvRows(o.s.streams.Out, rows)
}

func printEnvRows(out io.Writer, rows []env.Row) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ENVIRONMENT\tNAMESPACE\tREVISION\tVERSION\tIMAGES\tDEPLOYED\tBY\tHEALTH\tEXPIRES")
	for _, r := range rows {
		rev, deployed, expires := "-", "-", "-"
		if r.Revision > 0 {
			rev = fmt.Sprintf("%d (%s)", r.Revision, r.Status)
		}
		if r.DeployedAt != nil {
			deployed = r.DeployedAt.Local().Format("2006-01-02 15:04")
		}
		if r.ExpiresAt != nil {
			expires = r.ExpiresAt.Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Environment, dash(r.Namespace), rev, dash(r.Version),
			dash(shortImages(r.Images)), deployed, dash(r.DeployedBy), oneLine(r.Health), expires)
	}
	return w.Flush()
}

// shortImages names images by repository and short digest.
func shortImages(images []string) string {
	out := make([]string, 0, len(images))
	for _, img := range images {
		repo, digest, ok := strings.Cut(img, "@sha256:")
		if i := strings.LastIndexByte(repo, '/'); i >= 0 {
			repo = repo[i+1:]
		}
		if ok && len(digest) >= 12 {
			repo = strings.SplitN(repo, ":", 2)[0] + "@" + digest[:12]
		}
		out = append(out, repo)
	}
	return strings.Join(out, ",")
}

package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/config/upgrade"
)

// fixOptions are skaffold fix's flags.
type fixOptions struct {
	s         *session
	overwrite bool
}

func newFixCmd(s *session) *cobra.Command {
	o := &fixOptions{s: s}
	cmd := &cobra.Command{
		Use:   "fix",
		Short: "Upgrade a skaffold.yaml of an older schema version to " + upgrade.Target,
		Long: "Upgrade the configuration file (-f, default skaffold.yaml) from skaffold/v2beta*,\n" +
			"skaffold/v3* or an earlier skaffold/v4beta* to " + upgrade.Target + " with the rules of\n" +
			"`skaffold fix`, and print it; with --overwrite, replace the file instead (comments are\n" +
			"kept). skiff/v1 documents and documents already at " + upgrade.Target + " are left alone.",
		Example: "  skiff fix > skaffold.new.yaml\n  skiff fix --overwrite",
		Args:    args(cobra.NoArgs),
		RunE:    func(cmd *cobra.Command, _ []string) error { return runVerb(cmd.Context(), o) },
	}
	cmd.Flags().BoolVar(&o.overwrite, "overwrite", false, "overwrite the file instead of printing the upgraded configuration")
	return cmd
}

func (o *fixOptions) Validate() error { return nil }

func (o *fixOptions) Run(context.Context) error {
	file := o.s.flags.Filename
	if file == "" {
		file = "skaffold.yaml"
		if _, err := os.Stat(file); err != nil {
			for _, name := range config.DefaultFilenames {
				if _, err := os.Stat(name); err == nil {
					file = name
					break
				}
			}
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("reading the configuration: %w", err)
	}
	out, res, err := upgrade.Upgrade(data, file)
	if err != nil {
		return err
	}
	for _, w := range res.Warnings {
		o.s.warn("%s", w)
	}
	if !res.Changed {
		fmt.Fprintf(o.s.streams.Err, "%s is already at %s or later; nothing to upgrade\n", file, upgrade.Target)
		return nil
	}
	if !o.overwrite {
		_, err := o.s.streams.Out.Write(out)
		return err
	}
	if err := replaceFile(file, out); err != nil {
		return err
	}
	fmt.Fprintf(o.s.streams.Err, "upgraded %s to %s\n", file, upgrade.Target)
	return nil
}

// replaceFile writes data over file atomically (writeFileAtomic), through
// a symlink to what it points at, keeping the file's permissions.
func replaceFile(file string, data []byte) error {
	if target, err := filepath.EvalSymlinks(file); err == nil {
		file = target
	}
	fi, err := os.Stat(file)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(file, data); err != nil {
		return err
	}
	return os.Chmod(file, fi.Mode().Perm())
}

package cli

import (
	"fmt"

	"github.com/skiff-dev/skiff/internal/config"
	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"
)

// loadProject loads the configuration the global flags name, activating
// profiles for the running command, and prints load warnings on stderr.
func (g *globalOptions) loadProject(cmd *cobra.Command) (*config.Project, error) {
	p, err := config.Load(config.LoadOptions{
		Filename: g.Filename,
		Profiles: g.Profiles,
		Modules:  g.Modules,
		Activation: config.ActivationContext{
			Command:     verbOf(cmd),
			KubeContext: g.currentKubeContext(),
		},
	})
	if err != nil {
		return nil, err
	}
	for _, w := range p.Warnings {
		g.warn("%s", w)
	}
	return p, nil
}

// warn prints a warning on stderr unless the verbosity is error.
func (g *globalOptions) warn(format string, args ...any) {
	if lvl, _ := parseVerbosity(g.Verbosity); lvl > 4 { // slog.LevelWarn
		return
	}
	fmt.Fprintf(g.streams.Err, "warning: "+format+"\n", args...)
}

// verbOf is the top-level verb a command belongs to (build, dev, env, …),
// which is what profile activation's `command` matches.
func verbOf(cmd *cobra.Command) string {
	for cmd.HasParent() && cmd.Parent().HasParent() {
		cmd = cmd.Parent()
	}
	return cmd.Name()
}

// currentKubeContext is --kube-context, else the kubeconfig's current
// context, else empty; it never fails (no kubeconfig is fine for rendering).
func (g *globalOptions) currentKubeContext() string {
	if g.KubeContext != "" {
		return g.KubeContext
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if g.Kubeconfig != "" {
		rules.ExplicitPath = g.Kubeconfig
	}
	raw, err := rules.Load()
	if err != nil || raw == nil {
		return ""
	}
	return raw.CurrentContext
}

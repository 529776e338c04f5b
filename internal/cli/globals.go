package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/oci"
)

// globalOptions are the flags every command shares, with Skaffold's names and
// meanings so that Makefile targets keep working with skaffold replaced by skiff.
type globalOptions struct {
	streams Streams

	Filename           string
	Profiles           []string
	Modules            []string
	KubeContext        string
	Kubeconfig         string
	Namespace          string
	DefaultRepo        string
	InsecureRegistries []string
	Verbosity          string

	logger *slog.Logger
}

func (g *globalOptions) addFlags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVarP(&g.Filename, "filename", "f", "", "path of the configuration file (default: skiff.yaml, else skaffold.yaml, in the working directory)")
	f.StringSliceVarP(&g.Profiles, "profile", "p", nil, "activate profiles by name (repeatable, comma-separated; prefix with - to deactivate an auto-activated profile)")
	f.StringSliceVarP(&g.Modules, "module", "m", nil, "filter the configuration to these modules (metadata.name) and what they require")
	f.StringVar(&g.KubeContext, "kube-context", "", "kubeconfig context to use")
	f.StringVar(&g.Kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
	f.StringVarP(&g.Namespace, "namespace", "n", "", "namespace for the objects that do not set one")
	f.StringVarP(&g.DefaultRepo, "default-repo", "d", "", "rewrite image names into this registry/repository")
	f.StringSliceVar(&g.InsecureRegistries, "insecure-registry", nil, "registries to reach over plain HTTP (repeatable); loopback registries always are")
	f.StringVarP(&g.Verbosity, "verbosity", "v", "warning", "log level on stderr: panic, fatal, error, warning, info, debug, trace")
}

// complete validates the global flags and sets up logging; it runs before
// every command.
func (g *globalOptions) complete(*cobra.Command) error {
	level, err := parseVerbosity(g.Verbosity)
	if err != nil {
		return usageError("--verbosity: %v", err)
	}
	g.logger = slog.New(slog.NewTextHandler(g.streams.Err, &slog.HandlerOptions{Level: level}))
	if g.DefaultRepo == "" {
		g.DefaultRepo = os.Getenv("SKAFFOLD_DEFAULT_REPO")
	}
	return nil
}

// registry is the registry client of this invocation: the registries the
// flags and, when there is one, the configuration list as insecure.
func (g *globalOptions) registry(p *config.Project) *oci.Client {
	insecure := slices.Clone(g.InsecureRegistries)
	if p != nil {
		insecure = append(insecure, p.InsecureRegistries()...)
	}
	return oci.New(oci.Options{Insecure: insecure, UserAgent: "skiff/" + version})
}

// Logger is the stderr logger at the chosen verbosity.
func (g *globalOptions) Logger() *slog.Logger {
	if g.logger == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return g.logger
}

func parseVerbosity(v string) (slog.Level, error) {
	switch strings.ToLower(v) {
	case "panic", "fatal", "error":
		return slog.LevelError, nil
	case "warn", "warning", "":
		return slog.LevelWarn, nil
	case "info":
		return slog.LevelInfo, nil
	case "debug", "trace":
		return slog.LevelDebug, nil
	}
	return 0, fmt.Errorf("unknown level %q (use error, warning, info or debug)", v)
}

// colorEnabled reports whether w is a terminal that may receive ANSI colours.
// NO_COLOR (any value) turns colour off, as https://no-color.org asks.
func colorEnabled(w io.Writer) bool {
	if _, ok := os.LookupEnv("NO_COLOR"); ok {
		return false
	}
	if os.Getenv("TERM") == "dumb" {
		return false
	}
	return isTerminal(w)
}

// isTerminal reports whether w is a terminal (for in-place progress lines).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

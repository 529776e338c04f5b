package cli

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/oci"
)

// globalFlags are the flags every command shares, with Skaffold's names and
// meanings so that Makefile targets keep working with skaffold replaced by
// skiff. Cobra fills them; session.complete finishes them once before the
// verb runs; nothing changes them afterwards.
type globalFlags struct {
	Filename           string
	Profiles           []string
	Modules            []string
	KubeContext        string
	Kubeconfig         string
	Namespace          string
	DefaultRepo        string
	InsecureRegistries []string
	RegistryCAs        []string
	Verbosity          string
	// registryCAs is RegistryCAs parsed: registry → CA files.
	registryCAs map[string][]string
}

// session is one invocation of skiff: its streams, the global flags, the
// verb being run and the stderr logger. The verbs' options hold it and
// build their dependencies from it (compose.go).
type session struct {
	streams Streams
	flags   globalFlags
	// verb is the top-level verb (build, dev, env, …), which profile
	// activation's `command` matches.
	verb   string
	level  slog.Level
	logger *slog.Logger
}

func (s *session) addFlags(cmd *cobra.Command) {
	g := &s.flags
	f := cmd.PersistentFlags()
	f.StringVarP(&g.Filename, "filename", "f", "", "path of the configuration file (default: skiff.yaml, else skaffold.yaml, in the working directory)")
	f.StringSliceVarP(&g.Profiles, "profile", "p", nil, "activate profiles by name (repeatable, comma-separated; prefix with - to deactivate an auto-activated profile)")
	f.StringSliceVarP(&g.Modules, "module", "m", nil, "filter the configuration to these modules (metadata.name) and what they require")
	f.StringVar(&g.KubeContext, "kube-context", "", "kubeconfig context to use")
	f.StringVar(&g.Kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
	f.StringVarP(&g.Namespace, "namespace", "n", "", "namespace for the objects that do not set one")
	f.StringVarP(&g.DefaultRepo, "default-repo", "d", "", "rewrite image names into this registry/repository")
	f.StringSliceVar(&g.InsecureRegistries, "insecure-registry", nil, "registries to reach over plain HTTP (repeatable; added to build.insecureRegistries); loopback registries always are")
	f.StringArrayVar(&g.RegistryCAs, "registry-ca", nil, "HOST=FILE: trust the PEM CA certificates in FILE for registry HOST (host[:port]; repeatable), besides the system roots (SSL_CERT_FILE) and /etc/docker/certs.d/HOST/")
	f.StringVarP(&g.Verbosity, "verbosity", "v", "warning", "log level on stderr: panic, fatal, error, warning, info, debug, trace")
}

// complete checks the global flags and sets up logging; it runs once,
// before the verb.
func (s *session) complete(cmd *cobra.Command) error {
	level, err := parseVerbosity(s.flags.Verbosity)
	if err != nil {
		return usageError("--verbosity: %v", err)
	}
	s.level = level
	if s.flags.registryCAs, err = parseRegistryCAs(s.flags.RegistryCAs); err != nil {
		return err
	}
	s.logger = slog.New(slog.NewTextHandler(s.streams.Err, &slog.HandlerOptions{Level: level}))
	if s.flags.DefaultRepo == "" {
		s.flags.DefaultRepo = os.Getenv("SKAFFOLD_DEFAULT_REPO")
	}
	for cmd.HasParent() && cmd.Parent().HasParent() {
		cmd = cmd.Parent()
	}
	s.verb = cmd.Name()
	return nil
}

// log is the stderr logger at the chosen verbosity.
func (s *session) log() *slog.Logger {
	if s.logger == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return s.logger
}

// verbose is true at info level and below: builds show every step.
func (s *session) verbose() bool { return s.logger != nil && s.level <= slog.LevelInfo }

// warn prints a warning on stderr unless the verbosity is error.
func (s *session) warn(format string, args ...any) {
	if s.level > slog.LevelWarn {
		return
	}
	fmt.Fprintf(s.streams.Err, "warning: "+format+"\n", args...)
}

// parseRegistryCAs parses --registry-ca HOST=FILE values and checks that
// each FILE holds a PEM certificate.
func parseRegistryCAs(values []string) (map[string][]string, error) {
	cas := map[string][]string{}
	for _, v := range values {
		host, file, ok := strings.Cut(v, "=")
		host = strings.TrimSuffix(strings.TrimPrefix(host, "https://"), "/")
		if !ok || host == "" || file == "" || strings.Contains(host, "/") {
			return nil, usageError("--registry-ca %q: want HOST=FILE, such as registry.example.com:5000=ca.pem", v)
		}
		if err := oci.CheckCAFile(file); err != nil {
			return nil, usageError("--registry-ca %s: %v", v, err)
		}
		cas[host] = append(cas[host], file)
	}
	return cas, nil
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

// confirm asks a yes/no question on the terminal; without a terminal the
// answer is no.
func (s *session) confirm(question string) bool {
	in, ok := s.streams.In.(*os.File)
	if !ok || !isatty.IsTerminal(in.Fd()) {
		return false
	}
	fmt.Fprintf(s.streams.Err, "%s [y/N] ", question)
	answer, _ := bufio.NewReader(in).ReadString('\n')
	answer = strings.ToLower(strings.TrimSpace(answer))
	return answer == "y" || answer == "yes"
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

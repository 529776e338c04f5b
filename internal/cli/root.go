package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Streams are the standard streams a command reads and writes. Results go to
// Out, progress and logs to Err.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// Exit codes of the skiff binary.
const (
	ExitOK             = 0
	ExitError          = 1
	ExitUsage          = 2
	ExitNotImplemented = 3
)

// ErrNotImplemented marks a command that is registered but not built yet.
var ErrNotImplemented = errors.New("not implemented yet")

// exitError carries a specific exit code up to Main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withExitCode wraps err so that Main exits with code.
func withExitCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// usageError is a mistake on the command line: exit code 2.
func usageError(format string, args ...any) error {
	return withExitCode(ExitUsage, fmt.Errorf(format, args...))
}

// Main runs skiff with args (without the program name) and returns the
// process exit code. It is the only place that turns errors into exit codes.
func Main(ctx context.Context, args []string, streams Streams) int {
	root := NewRootCommand(streams)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(streams.Err, "skiff: %s\n", oneLine(err.Error()))
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, ErrNotImplemented):
		return ExitNotImplemented
	case isFlagError(err):
		return ExitUsage
	}
	return ExitError
}

// oneLine keeps error output to a single line even when a library error
// carries newlines.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "\n") {
		return s
	}
	fields := strings.Fields(strings.ReplaceAll(s, "\n", " "))
	return strings.Join(fields, " ")
}

// isFlagError recognises cobra/pflag's argument and flag parsing errors,
// which have no type of their own.
func isFlagError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown flag", "unknown shorthand flag", "flag needs an argument", "invalid argument", "unknown command", "accepts ", "requires at least", "requires at most", "bad flag syntax", "if any flags in the group"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// NewRootCommand builds the whole command tree.
func NewRootCommand(streams Streams) *cobra.Command {
	g := &globalOptions{streams: streams}
	root := &cobra.Command{
		Use:   "skiff",
		Short: "Build, render, deploy and promote Kubernetes applications",
		Long: "skiff builds images without a Docker daemon, renders and applies manifests with an\n" +
			"inventory and an honest status check, manages review, staging and production\n" +
			"environments, packages releases as OCI artifacts and generates CI pipelines.\n" +
			"It reads skaffold.yaml files unchanged.",
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: false},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return g.complete(cmd)
		},
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return withExitCode(ExitUsage, err)
	})
	g.addFlags(root)

	root.AddCommand(
		newVersionCmd(g),
		newDiagnoseCmd(g),
		newBuildCmd(g),
		newTestCmd(g),
		newRenderCmd(g),
		newApplyCmd(g),
		newDeployCmd(g),
		newRunCmd(g),
		newDevCmd(g),
		newDeleteCmd(g),
		newEnvCmd(g),
		newReleaseCmd(g),
		newCICmd(g),
		newPipelineCmd(g),
		newImageCmd(g),
	)
	return root
}

// notImplemented registers a verb whose engine has not landed yet. It fails
// honestly with exit code 3 instead of pretending to work.
func notImplemented(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:                use,
		Short:              short + " (not implemented yet)",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return fmt.Errorf("%s: %w", cmd.CommandPath(), ErrNotImplemented)
		},
	}
}

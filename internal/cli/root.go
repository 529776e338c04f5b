package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/klog/v2"
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

// ErrNotImplemented marks work that needs a skiff command not built yet
// (a pipeline job, for example): exit code 3.
var ErrNotImplemented = errors.New("not implemented yet")

// UsageError is a mistake on the command line: a wrong flag, value or
// argument count. Main exits with ExitUsage for it.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// usageError makes a UsageError from a message.
func usageError(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// exitCode is the process exit code for err, decided by its type only.
func exitCode(err error) int {
	var usage *UsageError
	var relayed *relayedExit
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &relayed):
		return relayed.code
	case errors.As(err, &usage):
		return ExitUsage
	case errors.Is(err, ErrNotImplemented):
		return ExitNotImplemented
	}
	return ExitError
}

// Main runs skiff with args (without the program name) and returns the
// process exit code. It is the only place that turns errors into exit codes.
func Main(ctx context.Context, args []string, streams Streams) int {
	quietClientGo()
	root := NewRootCommand(streams)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var relayed *relayedExit
	if err != nil && !errors.As(err, &relayed) {
		fmt.Fprintf(streams.Err, "skiff: %s\n", oneLine(err.Error()))
	}
	return exitCode(err)
}

// quietClientGo stops client-go from logging on stderr through klog (for
// example a watch cancelled at the end of a status check): skiff reports
// errors itself, and stderr belongs to the progress display. It is set
// once: client-go's goroutines read the logger concurrently.
func quietClientGo() {
	quietOnce.Do(func() { klog.SetLogger(logr.Discard()) })
}

var quietOnce sync.Once

// oneLine keeps error output to a single line even when a library error
// carries newlines.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "\n") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// args wraps a cobra argument check so that its error is a UsageError.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return &UsageError{Err: err}
		}
		return nil
	}
}

// verb is a command's options: Validate checks the flags and arguments
// before anything is read or contacted, Run does the work.
type verb interface {
	Validate() error
	Run(ctx context.Context) error
}

// runVerb validates and runs o; every command's RunE ends here.
func runVerb(ctx context.Context, o verb) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if entered, err := enterIsolation(ctx, o); entered || err != nil {
		return err
	}
	return o.Run(ctx)
}

// group is a command that only holds subcommands: alone it prints its
// help; with an unknown subcommand it is a usage error.
func group(use, short, long string, children ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use: use, Short: short, Long: long,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(children...)
	return cmd
}

// NewRootCommand builds the whole command tree.
func NewRootCommand(streams Streams) *cobra.Command {
	s := &session{streams: streams}
	root := &cobra.Command{
		Use:   "skiff",
		Short: "Build, render, deploy and promote Kubernetes applications",
		Long: "skiff builds images without a Docker daemon, renders and applies manifests with an\n" +
			"inventory and an honest status check, manages review, staging and production\n" +
			"environments, packages releases as OCI artifacts and generates CI pipelines.\n" +
			"It reads skaffold.yaml files unchanged.",
		SilenceUsage:  true,
		SilenceErrors: true,
		// With Args set, an unknown verb reaches this check (cobra's own
		// "unknown command" error has no type).
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return s.complete(cmd)
		},
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &UsageError{Err: err}
	})
	s.addFlags(root)
	root.AddCommand(
		newVersionCmd(s),
		newDiagnoseCmd(s),
		newFixCmd(s),
		newBuildCmd(s),
		newTestCmd(s),
		newVerifyCmd(s),
		newRenderCmd(s),
		newApplyCmd(s),
		newDeployCmd(s),
		newRunCmd(s),
		newDevCmd(s),
		newDeleteCmd(s),
		newEnvCmd(s),
		newReleaseCmd(s),
		newCICmd(s),
		newPipelineCmd(s),
		newImageCmd(s),
		newCleanupCmd(s),
		newLoginCmd(s),
		newUICmd(s),
		newBuildWorkerCmd(s),
	)
	return root
}

package local

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"syscall"
	"time"
)

// Runner starts one command of a job and waits for it. A command that
// exits non-zero returns an error with an ExitCode() int method.
type Runner interface {
	Run(ctx context.Context, c Cmd) error
}

// Cmd is a command to run: a program and its arguments (no shell), the
// directory and environment to run it in, and where its output goes.
type Cmd struct {
	Args   []string
	Dir    string
	Env    []string
	Output io.Writer // stdout and stderr, interleaved as they come
}

// Exec runs commands as child processes.
type Exec struct {
	// GracePeriod is how long a canceled command has between SIGTERM and
	// SIGKILL; zero means 10 seconds.
	GracePeriod time.Duration
}

// Run runs c and waits for it.
func (e Exec) Run(ctx context.Context, c Cmd) error {
	if len(c.Args) == 0 {
		return errors.New("empty command")
	}
	cmd := exec.CommandContext(ctx, c.Args[0], c.Args[1:]...)
	cmd.Dir = c.Dir
	cmd.Env = c.Env
	cmd.Stdout = c.Output
	cmd.Stderr = c.Output
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = e.GracePeriod
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = 10 * time.Second
	}
	return cmd.Run()
}

// exitCode is the exit code carried by err, or -1.
func exitCode(err error) int {
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return -1
}

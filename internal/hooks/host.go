package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/skiff-dev/skiff/internal/config"
)

// runHost runs a host hook: the command itself (no shell), its output to
// out, with env before the process's environment as Skaffold builds it
// (hostHook.retrieveCmd appends util.OSEnviron after the hook's variables,
// so on a clash the process's value is the one the command sees). A hook
// whose os list does not name this system is skipped.
func (r *Runner) runHost(ctx context.Context, h config.HostHook, env []string) error {
	if len(h.OS) > 0 && !slices.Contains(h.OS, runtime.GOOS) {
		return nil
	}
	if len(h.Command) == 0 {
		return errors.New("host hook has an empty command")
	}
	cmd := exec.CommandContext(ctx, h.Command[0], h.Command[1:]...)
	cmd.Dir = h.Dir
	cmd.Env = append(append(slices.Clone(env), os.Environ()...), r.extra()...)
	tail := &tailBuffer{max: 2048}
	w := io.MultiWriter(r.out(), tail)
	cmd.Stdout, cmd.Stderr = w, w
	// Skaffold interrupts a hook on cancellation and lets it finish
	// (misc.HandleGracefulTermination); so does skiff, for a while.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return &Failure{Command: h.Command, Err: err, Output: tail.String()}
	}
	return nil
}

// extra are the Static.Extra variables the environment lacks.
func (r *Runner) extra() []string {
	var out []string
	for k, v := range r.Static.Extra {
		if _, ok := os.LookupEnv(k); !ok {
			out = append(out, k+"="+v)
		}
	}
	slices.Sort(out)
	return out
}

// Failure is a hook command that failed; Output is the end of what it
// printed, for the error message (all of it was streamed as it ran).
type Failure struct {
	Command []string
	// Where names the container for container hooks.
	Where  string
	Err    error
	Output string
}

func (f *Failure) Error() string {
	msg := fmt.Sprintf("%q failed", strings.Join(f.Command, " "))
	if f.Where != "" {
		msg = fmt.Sprintf("%q failed in %s", strings.Join(f.Command, " "), f.Where)
	}
	msg += ": " + f.Err.Error()
	if out := lastLines(f.Output, 3); out != "" {
		msg += "; output: " + out
	}
	return msg
}

func (f *Failure) Unwrap() error { return f.Err }

// lastLines joins the last n non-empty lines of s with " | ".
func lastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if extra := t.buf.Len() - t.max; extra > 0 {
		t.buf.Next(extra)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}

package imagetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// Custom runs a custom test command on the host with sh -c in dir, with
// IMAGE set to the built image (Skaffold's contract). A timeout of zero
// waits as long as ctx allows. The command's output goes to out.
func Custom(ctx context.Context, image, command, dir string, timeout time.Duration, out io.Writer) Result {
	start := time.Now()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "IMAGE="+image)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	r := Result{Image: image, Suite: "custom", Kind: "custom", Name: command, Passed: err == nil, Duration: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		r.Message = fmt.Sprintf("timed out after %s", timeout)
	case errors.As(err, &exit):
		r.Message = fmt.Sprintf("exit code %d", exit.ExitCode())
	default:
		r.Message = err.Error()
	}
	return r
}

package verify

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/skiff-dev/skiff/internal/imagetest"
	"github.com/skiff-dev/skiff/internal/oci"
)

// Local runs tests on this machine: the image is pulled and its container
// run in the builder's sandbox (the RUN confinement skiff test uses for
// command tests).
type Local struct {
	Registry *oci.Client
	// Sandbox runs the container (imagetest.Runner; nil: sandbox.Run).
	Sandbox imagetest.Runner
	// Out receives the container's output, each line prefixed with the
	// test's name.
	Out io.Writer
}

// Run runs t's container from image.
func (l *Local) Run(ctx context.Context, t Test, image string) (Result, error) {
	start := time.Now()
	res := Result{Name: t.Case.Name, Mode: "local", Image: image}
	ref, err := l.Registry.ParseReference(image)
	if err != nil {
		return res, fmt.Errorf("verify test %s: image %s: %w", t.Case.Name, image, err)
	}
	img, err := l.Registry.Image(ctx, ref)
	if err != nil {
		return res, fmt.Errorf("verify test %s: pulling %s: %w", t.Case.Name, image, err)
	}
	scratch, err := os.MkdirTemp("", "skiff-verify-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(scratch)
	c := t.Case.Container
	var env []string
	for _, e := range c.Env {
		env = append(env, e.Name+"="+e.Value)
	}
	out := l.Out
	if out == nil {
		out = io.Discard
	}
	w := &prefixWriter{w: out, prefix: "[" + t.Case.Name + "] "}
	res, err = withTimeout(ctx, t, func(ctx context.Context) (Result, error) {
		code, err := imagetest.Container(ctx, image, img, scratch, l.Sandbox, imagetest.ContainerSpec{Command: c.Command, Args: c.Args, Env: env, Stdout: w, Stderr: w})
		r := res
		r.ExitCode, r.Passed = code, err == nil && code == 0
		if err == nil && code != 0 {
			r.Message = fmt.Sprintf("container %s exited with code %d", c.Name, code)
		}
		return r, err
	})
	res.Duration = time.Since(start)
	if err != nil && res.Message == "" {
		return res, fmt.Errorf("verify test %s: %w", t.Case.Name, err)
	}
	return res, nil
}

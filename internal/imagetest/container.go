package imagetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/skiff-dev/skiff/internal/build/sandbox"
	"github.com/skiff-dev/skiff/internal/oci"
)

// unpack extracts img's filesystem into a new directory of scratch.
func unpack(ctx context.Context, image string, img v1.Image, scratch string) (string, error) {
	root, err := os.MkdirTemp(scratch, "rootfs-")
	if err != nil {
		return "", err
	}
	rc := mutate.Extract(img)
	_, err = oci.Extract(ctx, rc, root, oci.ExtractOptions{})
	rc.Close()
	if err != nil {
		os.RemoveAll(root)
		return "", fmt.Errorf("unpacking %s: %w", image, err)
	}
	return root, nil
}

// ContainerSpec is a container to run from an image, with Kubernetes'
// meaning of command (replaces the entrypoint) and args (replace the
// image's cmd).
type ContainerSpec struct {
	Command, Args []string
	// Env is added to the image's environment.
	Env            []string
	Stdout, Stderr io.Writer
}

// Container runs a container of img to completion in a writable overlay of
// its unpacked filesystem, confined by run as the builder confines RUN
// (nil: sandbox.Run), and returns its exit code. scratch holds the
// filesystem while it runs.
func Container(ctx context.Context, image string, img v1.Image, scratch string, run Runner, spec ContainerSpec) (int, error) {
	if run == nil {
		run = sandbox.Run
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return 0, fmt.Errorf("reading the config of %s: %w", image, err)
	}
	c := cfg.Config
	args := spec.Command
	if len(args) == 0 {
		args = c.Entrypoint
		if len(spec.Args) == 0 {
			args = append(append([]string{}, args...), c.Cmd...)
		}
	}
	args = append(append([]string{}, args...), spec.Args...)
	if len(args) == 0 {
		return 0, fmt.Errorf("%s has no entrypoint or cmd and the container sets no command", image)
	}
	root, err := unpack(ctx, image, img, scratch)
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(root)
	merged, cleanup, err := overlay(root, scratch)
	if err != nil {
		return 0, err
	}
	defer cleanup()
	user, err := sandbox.ResolveUser(merged, c.User)
	if err != nil {
		return 0, fmt.Errorf("user %q: %w", c.User, err)
	}
	dir := c.WorkingDir
	if dir == "" {
		dir = "/"
	}
	env := append(append([]string{}, c.Env...), spec.Env...)
	err = run(ctx, sandbox.Spec{Root: merged, Args: args, Env: env, Dir: dir, User: user, Stdout: spec.Stdout, Stderr: spec.Stderr})
	var exit *sandbox.ExitError
	if errors.As(err, &exit) {
		if exit.Signal != 0 {
			return 128 + int(exit.Signal), nil
		}
		return exit.Code, nil
	}
	return 0, err
}

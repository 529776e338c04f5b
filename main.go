// Command skiff builds, renders, deploys and promotes Kubernetes applications
// from one binary, the same on a laptop and in CI.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/skiff-dev/skiff/internal/build/sandbox"
	"github.com/skiff-dev/skiff/internal/cli"
)

func main() {
	// A RUN step or command test re-executes this binary into its sandbox;
	// that child must not run the CLI.
	sandbox.Init()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}

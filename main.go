// Command skiff builds, renders, deploys and promotes Kubernetes applications
// from one binary, the same on a laptop and in CI.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/skiff-dev/skiff/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}

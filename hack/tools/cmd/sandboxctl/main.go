// Command sandboxctl does the parts of hack/testenv that are easier and safer
// in Go than in bash: picking a free port, waiting for servers, building and
// pushing the busybox base and pause images, applying kwok Stage objects,
// checking that the API server has what skiff's tests need, and for the real
// node its kubelet credentials, its cgroups, and the checks that stopping it
// left the host as it was.
//
// Every subcommand writes progress to stderr, results (a port, a digest) to
// stdout, and exits non-zero with one line saying what failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type command struct {
	usage string
	run   func(ctx context.Context, args []string) error
}

var commands = map[string]command{
	"freeport":            {"freeport [-n N] [-prefer PORT]", runFreePort},
	"wait-http":           {"wait-http -timeout D [-ca F [-cert F -key F]] URL", runWaitHTTP},
	"registry-pki":        {"registry-pki -dir DIR [-ip IP]...", runRegistryPKI},
	"token-server":        {"token-server -listen ADDR -tls-cert F -tls-key F -cert F -key F -htpasswd F -issuer I -service S", runTokenServer},
	"push-base":           {"push-base -busybox PATH REF", runPushBase},
	"stages":              {"stages -kubeconfig K -timeout D FILE...", runStages},
	"wait-nodes":          {"wait-nodes -kubeconfig K -count N -timeout D", runWaitNodes},
	"verify":              {"verify -kubeconfig K -version V", runVerify},
	"cluster-ok":          {"cluster-ok -kubeconfig K", runClusterOK},
	"nodes-ready":         {"nodes-ready -kubeconfig K", runNodesReady},
	"push-pause":          {"push-pause -pause PATH REF", runPushPause},
	"node-kubeconfig":     {"node-kubeconfig -kubeconfig K -ca-cert F -ca-key F -node NAME -o FILE", runNodeKubeconfig},
	"wait-node":           {"wait-node -kubeconfig K -name NODE [-pid PID] -timeout D", runWaitNode},
	"cgroup-create":       {"cgroup-create -name NAME", runCgroupCreate},
	"cgroup-remove":       {"cgroup-remove -name NAME [-timeout D]", runCgroupRemove},
	"node-refs":           {"node-refs -cgroup NAME -bridge BR -o FILE", runNodeRefs},
	"host-snapshot":       {"host-snapshot -o FILE", runHostSnapshot},
	"real-node-policy":    {"real-node-policy -kubeconfig K (-label K=V -taint K=V:E | -binding NAME) [-selector SEL]", runRealNodePolicy},
	"wait-serviceaccount": {"wait-serviceaccount -kubeconfig K [-namespace NS] -timeout D", runWaitServiceAccount},
	"host-check":          {"host-check -before FILE [-refs FILE] -cgroup NAME -bridge BR -path DIR", runHostCheck},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "sandboxctl: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New(usage())
	}
	c, ok := commands[args[0]]
	if !ok {
		return fmt.Errorf("unknown command %q\n%s", args[0], usage())
	}
	if err := c.run(ctx, args[1:]); err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	return nil
}

func usage() string {
	var lines []string
	for _, c := range commands {
		lines = append(lines, "  sandboxctl "+c.usage)
	}
	slices.Sort(lines)
	return "usage:\n" + strings.Join(lines, "\n")
}

// newFlags returns a flag set that reports errors instead of exiting, so every
// failure goes through the same one-line error path.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// runFreePort prints -n distinct TCP ports on 127.0.0.1 that nothing listens
// on now, one per line. The kernel picks them (at random in the ephemeral
// range), so sandboxes starting at the same time do not pick the same ports,
// as they would with a scan from a fixed start. With -prefer, that port comes
// first when it is free, so a sandbox keeps its registry port across restarts.
func runFreePort(_ context.Context, args []string) error {
	fs := newFlags("freeport")
	prefer := fs.Int("prefer", 0, "port to keep if it is free")
	n := fs.Int("n", 1, "how many ports")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// All listeners stay open until every port is chosen, so they differ.
	var ports []int
	for len(ports) < *n {
		addr := "127.0.0.1:0"
		if len(ports) == 0 && *prefer > 0 {
			addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(*prefer))
		}
		l, err := net.Listen("tcp", addr)
		if err != nil && addr != "127.0.0.1:0" {
			*prefer = 0
			continue
		}
		if err != nil {
			return err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, p := range ports {
		fmt.Println(p)
	}
	return nil
}

// runWaitHTTP waits until GET URL answers with a status below 500. A registry
// answers /v2/ with 200 (or 401 with auth), which is all "up" means here.
func runWaitHTTP(ctx context.Context, args []string) error {
	fs := newFlags("wait-http")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait")
	ca := fs.String("ca", "", "CA certificate to trust for an https URL")
	cert := fs.String("cert", "", "client certificate to present")
	key := fs.String("key", "", "client certificate's key")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("want exactly one URL")
	}
	url := fs.Arg(0)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	if *ca != "" {
		var err error
		if client, err = caClient(*ca, *cert, *key); err != nil {
			return err
		}
	}
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("%s not answering after %s: %w", url, *timeout, last)
		}
	}
}

// sleep waits for d or until ctx ends, whichever is first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/build/dockerbuild"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/kube"
	"github.com/skiff-dev/skiff/internal/oci"
	"github.com/skiff-dev/skiff/internal/verify"
)

// verifyOptions are skaffold verify's flags: skiff test's (images and
// isolation), whose Validate and isolation it shares.
type verifyOptions struct {
	testOptions
}

func newVerifyCmd(s *session) *cobra.Command {
	o := &verifyOptions{testOptions{s: s}}
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Run the verify tests: test containers after a deploy",
		Long: "Run the configuration's verify tests (Skaffold's verify section). Each test runs its\n" +
			"container to completion: by default on this machine, in the builder's sandbox (as\n" +
			"skiff test runs command tests); with executionMode.kubernetesCluster as a Kubernetes Job\n" +
			"in the namespace (-n, else the kube context's), with its logs streamed. A test passes\n" +
			"when its container exits 0 within its timeout. Images the project builds come from -a/-i.",
		Example: "  skiff verify -a build.json\n  skiff verify -n staging -i web=registry.example/web:1.0",
		Args:    args(cobra.NoArgs),
		RunE:    func(cmd *cobra.Command, _ []string) error { return runVerb(cmd.Context(), o) },
	}
	o.builds.add(cmd.Flags())
	o.iso.add(cmd.Flags())
	return cmd
}

func (o *verifyOptions) Run(ctx context.Context) error {
	p, err := o.s.project()
	if err != nil {
		return err
	}
	builds, err := o.builds.read(o.s.streams.In)
	if err != nil {
		return err
	}
	if len(verify.Tests(p)) == 0 {
		fmt.Fprintf(o.s.streams.Err, "%s has no verify tests\n", p.File)
		return nil
	}
	return o.s.runVerify(ctx, p, o.s.registry(p), &artifact.File{Builds: builds}, o.iso.mode(), nil)
}

// runVerify runs p's verify tests, one after the other, printing a line
// per test on stdout and their output on stderr; it fails when any fails.
// c is the cluster the cluster-mode tests run in (nil: the flags' one).
func (s *session) runVerify(ctx context.Context, p *config.Project, reg *oci.Client, builds *artifact.File, mode dockerbuild.Isolation, c *kube.Clients) error {
	tests := verify.Tests(p)
	if len(tests) == 0 {
		return nil
	}
	var local, cluster verify.Runner
	runner := func(t verify.Test) (verify.Runner, error) {
		if !t.InCluster() {
			if local == nil {
				run, _, err := commandRunner(mode)
				if err != nil {
					return nil, err
				}
				local = &verify.Local{Registry: reg, Sandbox: run, Out: s.streams.Err}
			}
			return local, nil
		}
		if cluster == nil {
			if c == nil {
				var err error
				if c, err = s.connect(p.DeploySettings().KubeContext, nil); err != nil {
					return nil, err
				}
			}
			cluster = &verify.Cluster{Client: c.Core, Namespace: c.Target.Namespace, RunID: runID(), Out: s.streams.Err}
		}
		return cluster, nil
	}
	failed := 0
	for _, t := range tests {
		r, err := runner(t)
		if err != nil {
			return err
		}
		image := t.Image(builds)
		fmt.Fprintf(s.streams.Err, "verify %s: %s\n", t.Case.Name, image)
		res, err := r.Run(ctx, t, image)
		if err != nil {
			return t.Config.ErrorAt(fmt.Sprintf("verify[%d]", t.Index), err.Error())
		}
		printVerifyResult(s.streams.Out, res)
		if !res.Passed {
			failed++
		}
	}
	fmt.Fprintf(s.streams.Out, "%d verify tests, %d passed, %d failed\n", len(tests), len(tests)-failed, failed)
	if failed > 0 {
		return fmt.Errorf("%d of %d verify tests failed", failed, len(tests))
	}
	return nil
}

func printVerifyResult(w io.Writer, r verify.Result) {
	state := "PASS"
	if !r.Passed {
		state = "FAIL"
	}
	line := fmt.Sprintf("%s  verify  %s (%s, %s)", state, r.Name, r.Mode, r.Duration.Round(100*time.Millisecond))
	if r.Message != "" {
		line += " — " + r.Message
	}
	fmt.Fprintln(w, line)
}

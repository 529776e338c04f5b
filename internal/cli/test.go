package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/build/dockerbuild"
	"github.com/skiff-dev/skiff/internal/build/sandbox"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/imagetest"
	"github.com/skiff-dev/skiff/internal/oci"
)

// testOptions are skiff test's.
type testOptions struct {
	s      *session
	builds buildsFlags
	iso    isolationFlags
}

func newTestCmd(s *session) *cobra.Command {
	o := &testOptions{s: s}
	cmd := &cobra.Command{
		Use:   "test",
		Short: "Run the configured tests against built images",
		Long: "Run the test section of the configuration against the built images: test[].custom\n" +
			"commands on this machine with IMAGE set to the image (Skaffold's contract), and\n" +
			"test[].structureTests (container-structure-test files: fileExistenceTests,\n" +
			"fileContentTests, metadataTest, and commandTests run inside the image's filesystem,\n" +
			"confined as the builder confines RUN: --isolation as for skiff build; container\n" +
			"isolation cannot run them). The images come from -a or -i.",
		Example: "  skiff test -a build.json",
		Args:    args(cobra.NoArgs),
		RunE:    func(cmd *cobra.Command, _ []string) error { return runVerb(cmd.Context(), o) },
	}
	o.builds.add(cmd.Flags())
	o.iso.add(cmd.Flags())
	return cmd
}

func (o *testOptions) Validate() error {
	if err := o.iso.validate(); err != nil {
		return err
	}
	return o.builds.validate()
}

func (o *testOptions) isolation() (*session, *isolationFlags, string, bool) {
	return o.s, &o.iso, "", true
}

func (o *testOptions) Run(ctx context.Context) error {
	p, err := o.s.project()
	if err != nil {
		return err
	}
	builds, err := o.builds.read(o.s.streams.In)
	if err != nil {
		return err
	}
	return o.s.runTests(ctx, p, o.s.registry(p), &artifact.File{Builds: builds}, o.iso.mode())
}

// runTests runs every test case of p against its built image, printing one
// line per test; it fails when any test fails.
func (s *session) runTests(ctx context.Context, p *config.Project, reg *oci.Client, builds *artifact.File, mode dockerbuild.Isolation) error {
	var results []imagetest.Result
	var run imagetest.Runner
	runner := func() (imagetest.Runner, error) {
		if run != nil {
			return run, nil
		}
		r, picked, err := commandRunner(mode)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(s.streams.Err, "test: isolation: %s\n", picked)
		run = r
		return run, nil
	}
	for _, c := range p.Configs {
		for _, tc := range c.Test {
			b, ok := builds.Lookup(tc.ImageName)
			if !ok {
				return fmt.Errorf("%s: test of image %q: no build of it; pass -a FILE (skiff build --file-output) or -i %s=REF", c.Source.File, tc.ImageName, tc.ImageName)
			}
			for _, ct := range tc.CustomTests {
				fmt.Fprintf(s.streams.Err, "test %s: %s\n", tc.ImageName, ct.Command)
				r := imagetest.Custom(ctx, b.Tag, ct.Command, tc.Workspace, time.Duration(ct.TimeoutSeconds)*time.Second, s.streams.Err)
				results = append(results, r)
				printTestResult(s.streams.Out, r)
			}
			if len(tc.StructureTests) == 0 {
				continue
			}
			rs, err := structureTests(ctx, reg, c, tc, b, runner)
			if err != nil {
				return err
			}
			for _, r := range rs {
				printTestResult(s.streams.Out, r)
			}
			results = append(results, rs...)
		}
	}
	if len(results) == 0 {
		return nil
	}
	failed := 0
	for _, r := range results {
		if !r.Passed {
			failed++
		}
	}
	fmt.Fprintf(s.streams.Out, "%d tests, %d passed, %d failed\n", len(results), len(results)-failed, failed)
	if failed > 0 {
		return fmt.Errorf("%d of %d tests failed", failed, len(results))
	}
	return nil
}

// structureTests runs a test case's container-structure-test files against
// its image.
func structureTests(ctx context.Context, reg *oci.Client, c *config.Config, tc *config.TestCase, b artifact.Build, runner func() (imagetest.Runner, error)) ([]imagetest.Result, error) {
	suites := map[string]*imagetest.Suite{}
	for _, pattern := range tc.StructureTests {
		files, err := filepath.Glob(pattern)
		if err != nil || len(files) == 0 {
			return nil, fmt.Errorf("%s: test of image %q: structureTests %q matches no file", c.Source.File, tc.ImageName, pattern)
		}
		for _, f := range files {
			s, err := imagetest.ReadSuite(f)
			if err != nil {
				return nil, err
			}
			suites[f] = s
		}
	}
	ref, err := reg.ParseReference(b.Tag)
	if err != nil {
		return nil, err
	}
	img, err := reg.Image(ctx, ref)
	if err != nil {
		return nil, err
	}
	scratch, err := os.MkdirTemp("", "skiff-test-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	var run imagetest.Runner
	for _, st := range suites {
		if len(st.CommandTests) > 0 {
			if run, err = runner(); err != nil {
				return nil, err
			}
		}
	}
	return imagetest.Structure(ctx, b.Tag, img, suites, scratch, run)
}

// errCommandTestsInContainer refuses commandTests under container
// isolation: they need namespaces of their own, which a container cannot
// make, and running them in the container's own root would replace it.
var errCommandTestsInContainer = errors.New("commandTests cannot run in container isolation (they need a sandbox of their own); run skiff test where root or rootless isolation works, or leave commandTests to the cluster (skiff verify)")

// commandRunner is how command tests run under isolation mode: what the
// builder's RUN uses, or a refusal for container isolation. It names the
// mode it picked.
func commandRunner(mode dockerbuild.Isolation) (imagetest.Runner, dockerbuild.Isolation, error) {
	picked, err := dockerbuild.SelectIsolation(dockerbuild.Options{Isolation: mode})
	if err != nil {
		return nil, "", err
	}
	if picked == dockerbuild.IsolationContainer {
		return func(context.Context, sandbox.Spec) error { return errCommandTestsInContainer }, picked, nil
	}
	return sandbox.Run, picked, nil
}

func printTestResult(w io.Writer, r imagetest.Result) {
	state := "PASS"
	if !r.Passed {
		state = "FAIL"
	}
	line := fmt.Sprintf("%s  %s  %s %s: %s", state, r.Image, r.Suite, r.Kind, r.Name)
	if r.Message != "" {
		line += " — " + r.Message
	}
	fmt.Fprintln(w, line)
}

package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/imagetest"
	"github.com/spf13/cobra"
)

type testFlags struct {
	BuildArtifacts string
	Images         []string
}

func newTestCmd(g *globalOptions) *cobra.Command {
	f := &testFlags{}
	cmd := &cobra.Command{
		Use:   "test",
		Short: "Run the configured tests against built images",
		Long: "Run the test section of the configuration against the built images: test[].custom\n" +
			"commands on this machine with IMAGE set to the image (Skaffold's contract), and\n" +
			"test[].structureTests (container-structure-test files: fileExistenceTests,\n" +
			"fileContentTests, metadataTest, and commandTests run inside the image's filesystem\n" +
			"with the builder's sandbox). The images come from -a or -i.",
		Example: "  skiff test -a build.json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := g.loadProject(cmd)
			if err != nil {
				return err
			}
			builds, err := readBuildFlags(g, f.BuildArtifacts, f.Images)
			if err != nil {
				return err
			}
			return g.runTests(cmd, p, builds)
		},
	}
	cmd.Flags().StringVarP(&f.BuildArtifacts, "build-artifacts", "a", "", "artifacts file of the images to test (skiff build --file-output); - reads standard input")
	cmd.Flags().StringSliceVarP(&f.Images, "images", "i", nil, "images to test as NAME=REF (repeatable; wins over -a)")
	return cmd
}

// readBuildFlags merges -a FILE and -i NAME=REF into one artifacts file.
func readBuildFlags(g *globalOptions, file string, images []string) (*artifact.File, error) {
	builds, err := g.readBuilds(&renderFlags{BuildArtifacts: file, Images: images})
	if err != nil {
		return nil, err
	}
	return &artifact.File{Builds: builds}, nil
}

// runTests runs every test case of p against its built image, printing one
// line per test; it fails when any test fails.
func (g *globalOptions) runTests(cmd *cobra.Command, p *config.Project, builds *artifact.File) error {
	ctx := cmd.Context()
	client := g.registry(p)
	var results []imagetest.Result
	for _, c := range p.Configs {
		for _, tc := range c.Test {
			b, ok := builds.Lookup(tc.ImageName)
			if !ok {
				return fmt.Errorf("%s: test of image %q: no build of it; pass -a FILE (skiff build --file-output) or -i %s=REF", c.Source.File, tc.ImageName, tc.ImageName)
			}
			for _, ct := range tc.CustomTests {
				fmt.Fprintf(g.streams.Err, "test %s: %s\n", tc.ImageName, ct.Command)
				r := imagetest.Custom(ctx, b.Tag, ct.Command, tc.Workspace, time.Duration(ct.TimeoutSeconds)*time.Second, g.streams.Err)
				results = append(results, r)
				g.printTestResult(r)
			}
			if len(tc.StructureTests) == 0 {
				continue
			}
			suites := map[string]*imagetest.Suite{}
			for _, pattern := range tc.StructureTests {
				files, err := filepath.Glob(pattern)
				if err != nil || len(files) == 0 {
					return fmt.Errorf("%s: test of image %q: structureTests %q matches no file", c.Source.File, tc.ImageName, pattern)
				}
				for _, f := range files {
					s, err := imagetest.ReadSuite(f)
					if err != nil {
						return err
					}
					suites[f] = s
				}
			}
			ref, err := client.ParseReference(b.Tag)
			if err != nil {
				return err
			}
			img, err := client.Image(ctx, ref)
			if err != nil {
				return err
			}
			scratch, err := os.MkdirTemp("", "skiff-test-")
			if err != nil {
				return err
			}
			rs, err := imagetest.Structure(ctx, b.Tag, img, suites, scratch)
			os.RemoveAll(scratch)
			if err != nil {
				return err
			}
			for _, r := range rs {
				g.printTestResult(r)
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
	fmt.Fprintf(g.streams.Out, "%d tests, %d passed, %d failed\n", len(results), len(results)-failed, failed)
	if failed > 0 {
		return fmt.Errorf("%d of %d tests failed", failed, len(results))
	}
	return nil
}

func (g *globalOptions) printTestResult(r imagetest.Result) {
	state := "PASS"
	if !r.Passed {
		state = "FAIL"
	}
	line := fmt.Sprintf("%s  %s  %s %s: %s", state, r.Image, r.Suite, r.Kind, r.Name)
	if r.Message != "" {
		line += " — " + r.Message
	}
	fmt.Fprintln(g.streams.Out, line)
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/skiff-dev/skiff/internal/build"
	"github.com/skiff-dev/skiff/internal/build/cluster"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/pipeline"
)

// clusterFlags choose builds in cluster pods (build.cluster, --cluster).
type clusterFlags struct {
	cluster bool
	image   string
	aliases []string
}

func (f *clusterFlags) add(fl *pflag.FlagSet) {
	fl.BoolVar(&f.cluster, "cluster", false, "build Dockerfile artifacts in pods of skiff's image in the cluster (as build.cluster does; its settings apply)")
	fl.StringVar(&f.image, "cluster-image", pipeline.DefaultImage, "skiff's image for build pods (make image builds one)")
	fl.StringArrayVar(&f.aliases, "cluster-registry-alias", nil, "HOST:PORT=ADDR: build pods dial ADDR for the registry that image names call HOST:PORT (repeatable)")
}

func (f *clusterFlags) validate() error {
	_, err := f.aliasMap()
	return err
}

func (f *clusterFlags) aliasMap() (map[string]string, error) {
	if len(f.aliases) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, a := range f.aliases {
		from, to, ok := strings.Cut(a, "=")
		if !ok || from == "" || to == "" {
			return nil, usageError("--cluster-registry-alias %q: want HOST:PORT=ADDR", a)
		}
		out[from] = to
	}
	return out, nil
}

// clusterBuilder is the builder of build pods when --cluster or
// build.cluster asks for one, else nil.
func (s *session) clusterBuilder(p *config.Project, f *buildFlags, opts build.Options) (*cluster.Builder, error) {
	details := p.BuildSettings().Cluster
	if !f.cl.cluster && details == nil {
		return nil, nil
	}
	c, err := s.connect(p.DeploySettings().KubeContext, nil)
	if err != nil {
		return nil, err
	}
	aliases, _ := f.cl.aliasMap() // checked by validate
	insecure := append([]string{}, s.flags.InsecureRegistries...)
	insecure = append(insecure, p.InsecureRegistries()...)
	return cluster.New(cluster.Options{
		Details: details, Image: f.cl.image, Config: c.Target.Config, Client: c.Core, Namespace: c.Target.Namespace,
		Aliases: aliases, Insecure: insecure, Push: opts.Push, CacheArtifacts: opts.CacheArtifacts, CacheRepo: opts.CacheRepo,
		Reproducible: opts.Reproducible, SourceDateEpoch: opts.SourceDateEpoch, Compression: opts.Compression,
	})
}

// newBuildWorkerCmd is the build pod's side of a cluster build: the
// client execs it with the job and context on stdin (hidden: only skiff
// runs it).
func newBuildWorkerCmd(s *session) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:    "build-worker",
		Short:  "Run one cluster build inside its pod (used by skiff build --cluster)",
		Hidden: true,
		Args:   args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBuildWorker(cmd.Context(), s, dir)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "/workspace", "directory for the job, its context and the layer cache")
	return cmd
}

func runBuildWorker(ctx context.Context, s *session, dir string) error {
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("build-worker: %w", err)
	}
	err := cluster.Serve(ctx, s.streams.In, s.streams.Out, dir, "skiff/"+version)
	if errors.Is(err, cluster.ErrBuildFailed) {
		return &relayedExit{code: 1} // reported on stdout to the client
	}
	return err
}

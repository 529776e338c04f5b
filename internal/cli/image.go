package cli

import (
	"fmt"
	"os"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/build"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/oci"
)

func newImageCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Work with base images",
	}
	cmd.AddCommand(newImageImportCmd(g))
	return cmd
}

type importFlags struct {
	Env          []string
	Cmd          []string
	Entrypoint   []string
	WorkDir      string
	User         string
	Reproducible bool
	Compression  string
}

func newImageImportCmd(g *globalOptions) *cobra.Command {
	f := &importFlags{}
	cmd := &cobra.Command{
		Use:   "import ROOTFS_DIR|TAR IMAGE",
		Short: "Push a root filesystem (a directory or a tar archive) as a single-layer base image",
		Long: "Turn a root filesystem into a linux/amd64 base image with one layer and push it, for\n" +
			"air-gapped registries or images made with debootstrap. A directory keeps its owners,\n" +
			"modes, links, xattrs and device nodes; a tar archive (optionally gzip, bzip2 or zstd\n" +
			"compressed) is taken as it is. The pushed reference with its digest goes to stdout.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			compression, err := oci.ParseCompression(f.Compression)
			if err != nil {
				return usageError("--compression: %v", err)
			}
			var p *config.Project
			if g.hasConfig() {
				if p, err = g.loadProject(cmd); err != nil {
					return err
				}
			}
			client := g.registry(p)
			ref, err := client.ParseReference(args[1])
			if err != nil {
				return usageError("%v", err)
			}
			tmp, err := os.MkdirTemp("", "skiff-import-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			blobs, err := oci.OpenBlobs(tmp)
			if err != nil {
				return err
			}
			opts := build.ImportOptions{
				Config:      v1.Config{Env: f.Env, Cmd: f.Cmd, Entrypoint: f.Entrypoint, WorkingDir: f.WorkDir, User: f.User},
				Compression: compression, Blobs: blobs,
			}
			if f.Reproducible {
				t := time.Unix(0, 0).UTC()
				if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
					n, err := strconv.ParseInt(v, 10, 64)
					if err != nil {
						return usageError("SOURCE_DATE_EPOCH=%q is not a number of seconds", v)
					}
					t = time.Unix(n, 0).UTC()
				}
				opts.Epoch = &t
			}
			img, err := build.ImportRootFS(cmd.Context(), args[0], opts)
			if err != nil {
				return err
			}
			res, err := client.Push(cmd.Context(), ref, img)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.streams.Out, "%s@%s\n", ref.Context().Name()+tagSuffix(ref.Identifier()), res.Digest)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.Env, "env", nil, "KEY=VALUE in the image config (repeatable; PATH defaults to the usual one)")
	fl.StringArrayVar(&f.Cmd, "cmd", nil, "the config's Cmd, one argument per flag")
	fl.StringArrayVar(&f.Entrypoint, "entrypoint", nil, "the config's Entrypoint, one argument per flag")
	fl.StringVar(&f.WorkDir, "workdir", "", "the config's WorkingDir")
	fl.StringVar(&f.User, "user", "", "the config's User")
	fl.BoolVar(&f.Reproducible, "reproducible", false, "creation time and file times from SOURCE_DATE_EPOCH, else 0, for identical digests")
	fl.StringVar(&f.Compression, "compression", "gzip", "layer compression: gzip or zstd")
	return cmd
}

func tagSuffix(id string) string {
	if len(id) > 7 && id[:7] == "sha256:" {
		return ""
	}
	return ":" + id
}

package cli

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/build"
	"github.com/skiff-dev/skiff/internal/oci"
)

func newImageCmd(s *session) *cobra.Command {
	return group("image", "Work with base images", "", newImageImportCmd(s))
}

// importOptions are skiff image import's.
type importOptions struct {
	s            *session
	env          []string
	cmd          []string
	entrypoint   []string
	workDir      string
	user         string
	reproducible bool
	compression  string
	rootfs, ref  string
}

func newImageImportCmd(s *session) *cobra.Command {
	o := &importOptions{s: s}
	cmd := &cobra.Command{
		Use:   "import ROOTFS_DIR|TAR IMAGE",
		Short: "Push a root filesystem (a directory or a tar archive) as a single-layer base image",
		Long: "Turn a root filesystem into a linux/amd64 base image with one layer and push it, for\n" +
			"air-gapped registries or images made with debootstrap. A directory keeps its owners,\n" +
			"modes, links, xattrs and device nodes; a tar archive (optionally gzip, bzip2 or zstd\n" +
			"compressed) is taken as it is. The pushed reference with its digest goes to stdout.",
		Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			o.rootfs, o.ref = a[0], a[1]
			return runVerb(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&o.env, "env", nil, "KEY=VALUE in the image config (repeatable; PATH defaults to the usual one)")
	fl.StringArrayVar(&o.cmd, "cmd", nil, "the config's Cmd, one argument per flag")
	fl.StringArrayVar(&o.entrypoint, "entrypoint", nil, "the config's Entrypoint, one argument per flag")
	fl.StringVar(&o.workDir, "workdir", "", "the config's WorkingDir")
	fl.StringVar(&o.user, "user", "", "the config's User")
	fl.BoolVar(&o.reproducible, "reproducible", false, "creation time and file times from SOURCE_DATE_EPOCH, else 0, for identical digests")
	fl.StringVar(&o.compression, "compression", "gzip", "layer compression: gzip or zstd")
	return cmd
}

func (o *importOptions) Validate() error {
	if _, err := oci.ParseCompression(o.compression); err != nil {
		return usageError("--compression: %v", err)
	}
	if v := os.Getenv("SOURCE_DATE_EPOCH"); o.reproducible && v != "" {
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return usageError("SOURCE_DATE_EPOCH=%q is not a number of seconds", v)
		}
	}
	return nil
}

func (o *importOptions) Run(ctx context.Context) error {
	// The configuration, when there is one, may list the registry as insecure.
	p, err := o.s.optionalProject()
	if err != nil {
		return err
	}
	client := o.s.registry(p)
	ref, err := client.ParseReference(o.ref)
	if err != nil {
		return &UsageError{Err: err}
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
	compression, _ := oci.ParseCompression(o.compression)
	opts := build.ImportOptions{
		Config:      v1.Config{Env: o.env, Cmd: o.cmd, Entrypoint: o.entrypoint, WorkingDir: o.workDir, User: o.user},
		Compression: compression, Blobs: blobs,
	}
	if o.reproducible {
		t := time.Unix(0, 0).UTC()
		if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
			n, _ := strconv.ParseInt(v, 10, 64) // checked by Validate
			t = time.Unix(n, 0).UTC()
		}
		opts.Epoch = &t
	}
	img, err := build.ImportRootFS(ctx, o.rootfs, opts)
	if err != nil {
		return err
	}
	res, err := client.Push(ctx, ref, img)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.s.streams.Out, "%s@%s\n", ref.Context().Name()+tagSuffix(ref.Identifier()), res.Digest)
	return nil
}

func tagSuffix(id string) string {
	if len(id) > 7 && id[:7] == "sha256:" {
		return ""
	}
	return ":" + id
}

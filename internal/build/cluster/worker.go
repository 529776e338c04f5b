package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/skiff-dev/skiff/internal/build"
	"github.com/skiff-dev/skiff/internal/build/dockerbuild"
	"github.com/skiff-dev/skiff/internal/oci"
)

// ErrBuildFailed is Serve's error when the build failed and the failure
// was reported on out.
var ErrBuildFailed = errors.New("build failed")

// Serve is the build pod's side: it reads the job and the context from in
// into a new directory under dir, builds and pushes in-process (container
// isolation, which is what a pod with the runtime's defaults allows), and
// writes progress and the result to out as JSON lines. It returns
// ErrBuildFailed after reporting a failed build, another error when not
// even that was possible.
func Serve(ctx context.Context, in io.Reader, out io.Writer, dir, userAgent string) error {
	w := newWriter(out)
	fail := func(err error) error {
		if werr := w.send(message{Error: errorOf(err)}); werr != nil {
			return errors.Join(err, werr)
		}
		return ErrBuildFailed
	}
	jobDir, err := os.MkdirTemp(dir, "job-")
	if err != nil {
		return fail(err)
	}
	rec, err := readStream(in, jobDir)
	if err != nil {
		return fail(err)
	}
	j := rec.job
	reg := oci.New(oci.Options{Insecure: j.Insecure, Transport: aliasTransport(j.Aliases), UserAgent: userAgent})
	r, err := reg.ParseReference(j.Ref)
	if err != nil {
		return fail(err)
	}
	ref, ok := r.(name.Tag)
	if !ok {
		return fail(fmt.Errorf("%s is not a tag reference", j.Ref))
	}
	spec := build.DockerSpec{
		ContextDir: rec.context, Dockerfile: rec.dockerfile, Target: j.Target, BuildArgs: j.BuildArgs,
		NoCache: j.NoCache, Reproducible: j.Reproducible, Network: j.Network, CacheFrom: j.CacheFrom,
	}
	if spec.BuildArgs == nil {
		spec.BuildArgs = map[string]string{}
	}
	for k, v := range j.Labels {
		if spec.Labels == nil {
			spec.Labels = map[string]*string{}
		}
		spec.Labels[k] = &v
	}
	comp, err := oci.ParseCompression(j.Compression)
	if err != nil && j.Compression != "" {
		return fail(err)
	}
	opts := build.Options{
		Push: j.Push, CacheArtifacts: j.Cache, CacheRepo: j.CacheRepo, CacheDir: filepath.Join(jobDir, "cache"),
		Reproducible: j.Reproducible, Compression: comp, Registry: reg,
		Events: func(e build.Event) {
			switch {
			case e.Kind == build.ArtifactStep && e.Step != nil:
				if e.Step.Kind == dockerbuild.Warning && e.Step.Text == dockerbuild.ContainerNote {
					return // the build pod is the container made for the build
				}
				_ = w.send(message{Step: e.Step})
			case e.Kind == build.ArtifactWarning:
				_ = w.send(message{Warning: e.Text})
			}
		},
	}
	if j.Epoch != nil {
		t := time.Unix(*j.Epoch, 0).UTC()
		opts.SourceDateEpoch = &t
	}
	built, err := build.BuildSpec(ctx, spec, ref, opts)
	if err != nil {
		return fail(err)
	}
	return w.send(message{Done: &doneMessage{Ref: built.Ref, Pushed: built.Pushed, Steps: built.Steps, Cached: built.Cached}})
}

// aliasTransport dials the address aliases name for a registry's
// host:port (or host), keeping the names in requests as they are.
func aliasTransport(aliases map[string]string) http.RoundTripper {
	t := remote.DefaultTransport.(*http.Transport).Clone()
	if len(aliases) == 0 {
		return t
	}
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if to, ok := aliases[addr]; ok {
			addr = to
		} else if host, port, err := net.SplitHostPort(addr); err == nil {
			if to, ok := aliases[host]; ok {
				addr = net.JoinHostPort(to, port)
			}
		}
		return d.DialContext(ctx, network, addr)
	}
	return t
}

package dev

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	utilexec "k8s.io/utils/exec"

	"github.com/skiff-dev/skiff/internal/kube"
	"github.com/skiff-dev/skiff/internal/kubeclient"
)

// Container is one running container of a pod.
type Container struct {
	Namespace, Pod, Name string
}

func (c Container) String() string { return c.Namespace + "/" + c.Pod + "/" + c.Name }

// execer runs commands in containers through the pods' exec API, over
// WebSocket with a fallback to SPDY, as kubectl does.
type execer struct {
	config *rest.Config
	client kubeclient.Interface
}

func (e *execer) exec(ctx context.Context, c Container, cmd []string, stdin io.Reader) error {
	var stdout, stderr bytes.Buffer // written concurrently: one each
	err := kube.Exec(ctx, e.config, e.client, c.Namespace, c.Pod, c.Name, cmd, stdin, &stdout, &stderr)
	var exit utilexec.ExitError
	if err != nil && !errors.As(err, &exit) && ctx.Err() == nil {
		// The command ran and failed, or it never started: the runtime
		// reports the second (a missing executable, say) as an error that
		// is not an exit status.
		return &StartError{Command: cmd[0], Container: c, Err: err}
	}
	if err != nil {
		msg := strings.TrimSpace(stderr.String() + "\n" + stdout.String())
		if msg != "" {
			return fmt.Errorf("%s in %s: %w: %s", cmd[0], c, err, msg)
		}
		return fmt.Errorf("%s in %s: %w", cmd[0], c, err)
	}
	return nil
}

// StartError means a command could not be started in a container at all,
// typically because the image does not have it: an image without tar (a
// distroless or scratch image) cannot receive synced files.
type StartError struct {
	Command   string
	Container Container
	Err       error
}

func (e *StartError) Error() string {
	return fmt.Sprintf("%s cannot be started in %s (file sync runs tar and rm in the container, so the image needs them): %v", e.Command, e.Container, e.Err)
}

func (e *StartError) Unwrap() error { return e.Err }

// syncTo copies and deletes sp's files in every container: files with
// absolute destinations are extracted from a tar at /, the others in the
// container's working directory (tar and rm must be in the image, as for
// Skaffold's sync; without them syncTo returns a *StartError and the
// session rebuilds the artifact instead).
func (e *execer) syncTo(ctx context.Context, sp SyncPlan, containers []Container) error {
	var abs, rel []FileCopy
	for _, c := range sp.Copy {
		if path.IsAbs(c.Dest) {
			abs = append(abs, c)
		} else {
			rel = append(rel, c)
		}
	}
	absTar, err := tarOf(abs)
	if err != nil {
		return err
	}
	relTar, err := tarOf(rel)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, c := range containers {
		g.Go(func() error {
			if len(sp.Delete) > 0 {
				if err := e.exec(gctx, c, append([]string{"rm", "-rf", "--"}, sp.Delete...), nil); err != nil {
					return err
				}
			}
			if len(abs) > 0 {
				if err := e.exec(gctx, c, []string{"tar", "xmf", "-", "-C", "/"}, bytes.NewReader(absTar)); err != nil {
					return err
				}
			}
			if len(rel) > 0 {
				if err := e.exec(gctx, c, []string{"tar", "xmf", "-"}, bytes.NewReader(relTar)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// tarRecord is tar's default record size (20 blocks of 512 bytes).
const tarRecord = 20 * 512

// tarOf archives local files under their destination paths (without the
// leading slash); nil for no files.
func tarOf(copies []FileCopy) ([]byte, error) {
	if len(copies) == 0 {
		return nil, nil
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, c := range copies {
		if err := addFile(tw, c); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	// Pad to whole 10 KiB records, as tar itself writes archives: GNU tar
	// reads record by record, and would otherwise wait for an end of input
	// that some exec implementations (kwok's) never pass on.
	if n := buf.Len() % tarRecord; n > 0 {
		buf.Write(make([]byte, tarRecord-n))
	}
	return buf.Bytes(), nil
}

func addFile(tw *tar.Writer, c FileCopy) error {
	fi, err := os.Lstat(c.Local)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", c.Local, err)
	}
	name := strings.TrimLeft(path.Clean(c.Dest), "/")
	hdr := &tar.Header{Name: name, Mode: int64(fi.Mode().Perm()), ModTime: fi.ModTime(), Format: tar.FormatPAX}
	switch {
	case fi.Mode().IsRegular():
		hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
	case fi.Mode()&os.ModeSymlink != 0:
		target, err := os.Readlink(c.Local)
		if err != nil {
			return fmt.Errorf("syncing %s: %w", c.Local, err)
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case fi.IsDir():
		hdr.Typeflag, hdr.Name = tar.TypeDir, name+"/"
	default:
		return nil // sockets, devices: nothing to sync
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil
	}
	f, err := os.Open(c.Local)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", c.Local, err)
	}
	defer f.Close()
	if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
		return fmt.Errorf("syncing %s: %w", c.Local, err)
	}
	return nil
}

// containersRunning lists the running containers of pods whose image is
// ref (the artifact's current build), skipping pods being deleted.
func containersRunning(pods []*corev1.Pod, ref string) []Container {
	var out []Container
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodRunning {
			continue
		}
		running := map[string]bool{}
		for _, cs := range pod.Status.ContainerStatuses {
			running[cs.Name] = cs.State.Running != nil
		}
		for _, c := range pod.Spec.Containers {
			if running[c.Name] && sameImage(c.Image, ref) {
				out = append(out, Container{Namespace: pod.Namespace, Pod: pod.Name, Name: c.Name})
			}
		}
	}
	return out
}

// sameImage compares references, by digest when both have one.
func sameImage(a, b string) bool {
	if a == b {
		return true
	}
	_, da, okA := strings.Cut(a, "@")
	_, db, okB := strings.Cut(b, "@")
	return okA && okB && da == db
}

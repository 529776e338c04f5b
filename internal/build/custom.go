package build

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/oci"
)

// customBuilder runs a custom artifact's buildCommand with Skaffold's
// variables: IMAGE (the reference to build), PUSH_IMAGE, BUILD_CONTEXT,
// PLATFORMS, and one variable per required artifact alias.
type customBuilder struct {
	push     bool
	registry *oci.Client
}

func (c *customBuilder) Build(ctx context.Context, a *config.Artifact, ref name.Tag, deps map[string]string, emit func(Event)) (Built, error) {
	dir, err := filepath.Abs(a.Workspace)
	if err != nil {
		return Built{}, err
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", a.CustomArtifact.BuildCommand)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"IMAGE="+ref.String(),
		"PUSH_IMAGE="+strconv.FormatBool(c.push),
		"BUILD_CONTEXT="+dir,
		"PLATFORMS=linux/amd64",
		"SKIP_TEST=false",
	)
	for alias, r := range deps {
		cmd.Env = append(cmd.Env, alias+"="+r)
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var tail []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			tail = append(tail, line)
			if len(tail) > 10 {
				tail = tail[1:]
			}
			emit(Event{Kind: ArtifactOutput, Tag: ref.String(), Text: line})
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	runErr := cmd.Run()
	pw.Close()
	wg.Wait()
	if runErr != nil {
		return Built{}, fmt.Errorf("buildCommand %q in %s failed: %w (last output: %s)", a.CustomArtifact.BuildCommand, dir, runErr, strings.Join(tail, " | "))
	}
	if !c.push {
		return Built{Ref: ref.String()}, nil
	}
	desc, err := c.registry.Head(ctx, ref)
	if errors.Is(err, oci.ErrNotFound) {
		return Built{}, fmt.Errorf("buildCommand %q succeeded but did not push $IMAGE (%s)", a.CustomArtifact.BuildCommand, ref)
	}
	if err != nil {
		return Built{}, err
	}
	return Built{Ref: ref.String() + "@" + desc.Digest.String(), Pushed: true}, nil
}

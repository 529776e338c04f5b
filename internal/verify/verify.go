package verify

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/config"
)

// Test is one verify test case and the config that defines it.
type Test struct {
	Config *config.Config
	Index  int
	Case   *config.VerifyTestCase
}

// Tests lists p's verify tests, in configuration order.
func Tests(p *config.Project) []Test {
	var out []Test
	for _, c := range p.Configs {
		for i, tc := range c.Verify {
			out = append(out, Test{Config: c, Index: i, Case: tc})
		}
	}
	return out
}

// InCluster reports whether t runs as a Kubernetes Job.
func (t Test) InCluster() bool { return t.Case.ExecutionMode.KubernetesCluster != nil }

// Image is the image t's container runs: the build of an artifact it
// names, else the reference as written (Skaffold replaces a built
// artifact's name by its tag the same way).
func (t Test) Image(builds *artifact.File) string {
	if builds != nil {
		if b, ok := builds.Lookup(t.Case.Container.Image); ok {
			return b.Tag
		}
	}
	return t.Case.Container.Image
}

// timeout is the test's timeout, 0 for none.
func (t Test) timeout() time.Duration {
	if t.Case.Timeout == nil || *t.Case.Timeout <= 0 {
		return 0
	}
	return time.Duration(*t.Case.Timeout) * time.Second
}

// Result is a test's outcome.
type Result struct {
	Name string
	// Mode is "local" or "cluster".
	Mode     string
	Image    string
	Passed   bool
	ExitCode int
	// Message says why it failed.
	Message  string
	Duration time.Duration
}

// Runner runs one test with its image; it returns an error only when the
// test could not be run at all.
type Runner interface {
	Run(ctx context.Context, t Test, image string) (Result, error)
}

// withTimeout runs fn under t's timeout and turns a timeout into a failed
// result.
func withTimeout(ctx context.Context, t Test, fn func(ctx context.Context) (Result, error)) (Result, error) {
	d := t.timeout()
	if d == 0 {
		return fn(ctx)
	}
	tctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	res, err := fn(tctx)
	if tctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
		res.Passed = false
		res.Message = fmt.Sprintf("timed out after %s (timeout: %d)", d, *t.Case.Timeout)
		return res, nil
	}
	return res, err
}

// prefixWriter prefixes each line written to it.
type prefixWriter struct {
	w      io.Writer
	prefix string
	mid    bool
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		if !p.mid {
			if _, err := io.WriteString(p.w, p.prefix); err != nil {
				return 0, err
			}
			p.mid = true
		}
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		if i < len(b) {
			i++
			p.mid = false
		}
		if _, err := p.w.Write(b[:i]); err != nil {
			return 0, err
		}
		b = b[i:]
	}
	return n, nil
}

package ko

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// goInvocation is one `go build` of a main package.
type goInvocation struct {
	gotool, dir, importPath string
	// cacheDir, when set, holds the binary at a path fixed per main
	// package, as ko's KOCACHE does: the go tool sees the binary there is
	// up to date and skips the link.
	cacheDir            string
	env, flags, ldflags []string
	// created is {{.Date}} and {{.Timestamp}} in flags; zero is now.
	created time.Time
	log     func(string)
}

// binary is a built executable; release removes it, or, in the cache,
// lets the next build of the same package write it.
type binary struct {
	path    string
	release func()
}

// cachedBinaries serialises builds into one cached binary path within the
// process: two artifacts of the same main package would write it at once.
var cachedBinaries sync.Map // path → *sync.Mutex

// goBuild runs the go tool as ko does (pkg/build/gobuild.go, build and
// buildEnv): CGO_ENABLED=0 and GOOS/GOARCH of Platform, overridden by the
// process environment and then by the build's env; the build's flags, then
// -trimpath, then its ldflags as one -ldflags.
func goBuild(ctx context.Context, g goInvocation) (binary, error) {
	goos, goarch, _ := strings.Cut(Platform, "/")
	env := append([]string{"CGO_ENABLED=0", "GOOS=" + goos, "GOARCH=" + goarch}, os.Environ()...)
	env = append(env, g.env...)
	args, err := buildArgs(ctx, g, env)
	if err != nil {
		return binary{}, fmt.Errorf("ko build of %s: %w", g.importPath, err)
	}

	var bin binary
	if g.cacheDir != "" {
		dir := filepath.Join(g.cacheDir, "bin", g.importPath, Platform)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return binary{}, fmt.Errorf("ko build of %s: the ko cache: %w", g.importPath, err)
		}
		bin.path = filepath.Join(dir, "out")
		mu, _ := cachedBinaries.LoadOrStore(bin.path, &sync.Mutex{})
		mu.(*sync.Mutex).Lock()
		bin.release = mu.(*sync.Mutex).Unlock
	} else {
		dir, err := os.MkdirTemp("", "skiff-ko-")
		if err != nil {
			return binary{}, fmt.Errorf("ko build of %s: %w", g.importPath, err)
		}
		bin.path = filepath.Join(dir, "out")
		bin.release = func() { os.RemoveAll(dir) }
	}

	args = append(append(args, "-o", bin.path), g.importPath)
	cmd := exec.CommandContext(ctx, g.gotool, args...)
	cmd.Dir = g.dir
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	g.log(fmt.Sprintf("Building %s for %s", g.importPath, Platform))
	err = cmd.Run()
	lines := outputLines(out.String())
	for _, l := range lines {
		g.log(l)
	}
	if err != nil {
		bin.release()
		if ctx.Err() != nil {
			return binary{}, fmt.Errorf("ko build of %s: %w", g.importPath, ctx.Err())
		}
		return binary{}, fmt.Errorf("ko build of %s in %s: go build: %v%s", g.importPath, g.dir, err, firstLines(lines))
	}
	return bin, nil
}

// buildArgs are the arguments before -o, with ko's templates in flags and
// ldflags expanded.
func buildArgs(ctx context.Context, g goInvocation, env []string) ([]string, error) {
	flags, ldflags := g.flags, g.ldflags
	if hasTemplate(flags) || hasTemplate(ldflags) {
		data, err := templateData(ctx, g.gotool, g.dir, env, g.created)
		if err != nil {
			return nil, err
		}
		if flags, err = expand("flags", flags, data); err != nil {
			return nil, err
		}
		if ldflags, err = expand("ldflags", ldflags, data); err != nil {
			return nil, err
		}
	}
	args := append([]string{"build"}, flags...)
	// Reproducible binaries: no paths of this machine in them.
	args = append(args, "-trimpath")
	if len(ldflags) > 0 {
		args = append(args, "-ldflags="+strings.Join(ldflags, " "))
	}
	// As ko does: a flag that names another program to run the compiler
	// through is refused.
	for _, a := range args {
		for _, d := range []string{"-", "--"} {
			if a == d+"toolexec" || strings.HasPrefix(a, d+"toolexec=") {
				return nil, fmt.Errorf("flags: %s is not allowed; remove it from ko.flags", a)
			}
		}
	}
	return args, nil
}

func outputLines(s string) []string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// firstLines keeps a compiler's first errors, on one line.
func firstLines(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	if len(lines) > 8 {
		lines = append(lines[:8:8], "…")
	}
	return ": " + strings.Join(lines, " | ")
}

package cli

import (
	"context"
	"errors"

	"github.com/spf13/pflag"

	"github.com/skiff-dev/skiff/internal/build"
	"github.com/skiff-dev/skiff/internal/build/dockerbuild"
	"github.com/skiff-dev/skiff/internal/build/sandbox"
)

// relayedExit ends a skiff that re-executed itself in its user namespace
// (rootless isolation): the new process printed everything itself, and
// this one exits with its code and prints nothing more.
type relayedExit struct{ code int }

func (e *relayedExit) Error() string { return "rootless build exited" }

// builder is a verb that builds images: runVerb asks it which isolation
// its build wants, and enters skiff's user namespace first when that is
// rootless.
type builder interface {
	// isolation returns the session, the isolation flags and the
	// --cache-dir ("" for the default); ok is false when this run builds
	// and runs nothing (skiff run -a).
	isolation() (s *session, f *isolationFlags, cacheDir string, ok bool)
}

// enterIsolation re-executes skiff in a user namespace of its own when the
// verb's build runs rootless and this process is not there yet; entered
// then says the verb ran in the new process, and err carries its exit code.
func enterIsolation(ctx context.Context, o verb) (entered bool, err error) {
	b, ok := o.(builder)
	if !ok {
		return false, nil
	}
	s, f, cacheDir, ok := b.isolation()
	if !ok {
		return false, nil
	}
	enter, err := dockerbuild.EntersUserNamespace(f.mode())
	var none *dockerbuild.NoIsolationError
	if errors.As(err, &none) {
		return false, nil // the build reports it, with every mode tried
	}
	if err != nil || !enter {
		return false, err
	}
	// Inside the namespace other users' directories cannot be told from
	// root's, so the cache directory is checked here.
	dir, err := build.CacheDir(cacheDir)
	if err != nil {
		return false, err
	}
	if err := build.PrivateDir(dir); err != nil {
		return false, err
	}
	m := sandbox.PlanRootless()
	if m.Single != "" {
		s.warn("isolation rootless: %s", m.Single)
	}
	code, err := sandbox.EnterRootless(ctx, m)
	if err != nil {
		return true, err
	}
	if code != 0 {
		return true, &relayedExit{code: code}
	}
	return true, nil
}

// isolationFlags are --isolation and --allow: how RUN steps (and, for
// skiff test, command tests) are confined. build, run, dev and test have
// them.
type isolationFlags struct {
	isolation string
	allow     []string
}

func (f *isolationFlags) add(fl *pflag.FlagSet) {
	fl.StringVar(&f.isolation, "isolation", "auto", "how RUN steps are confined: auto, rootless, root or container (auto: root for root on a host, else rootless, else container inside a container)")
	fl.StringSliceVar(&f.allow, "allow", nil, "entitlements beyond the default confinement: network.host (RUN --network=host), device (device nodes from layers; root isolation)")
}

func (f *isolationFlags) validate() error {
	if _, err := dockerbuild.ParseIsolation(f.isolation); err != nil {
		return usageError("--isolation: %v", err)
	}
	if _, err := dockerbuild.ParseEntitlements(f.allow); err != nil {
		return usageError("--allow: %v", err)
	}
	return nil
}

// mode is --isolation, validated.
func (f *isolationFlags) mode() dockerbuild.Isolation {
	iso, _ := dockerbuild.ParseIsolation(f.isolation) // checked by validate
	return iso
}

// entitlements is --allow, validated.
func (f *isolationFlags) entitlements() dockerbuild.Entitlements {
	e, _ := dockerbuild.ParseEntitlements(f.allow) // checked by validate
	return e
}

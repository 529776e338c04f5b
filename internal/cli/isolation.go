package cli

import (
	"context"
	"errors"

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
	// isolation returns the session and the build flags; ok is false
	// when this run builds nothing (skiff run -a).
	isolation() (s *session, f *buildFlags, ok bool)
}

// enterIsolation re-executes skiff in a user namespace of its own when the
// verb's build runs rootless and this process is not there yet; entered
// then says the verb ran in the new process, and err carries its exit code.
func enterIsolation(ctx context.Context, o verb) (entered bool, err error) {
	b, ok := o.(builder)
	if !ok {
		return false, nil
	}
	s, f, ok := b.isolation()
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
	dir, err := build.CacheDir(f.cacheDir)
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

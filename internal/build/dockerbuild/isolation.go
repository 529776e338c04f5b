package dockerbuild

import (
	"context"
	"fmt"
	"strings"

	"github.com/skiff-dev/skiff/internal/build/sandbox"
	"github.com/skiff-dev/skiff/internal/build/snapshot"
	"github.com/skiff-dev/skiff/internal/oci"
)

// Isolation names how a build confines its RUN steps (--isolation).
type Isolation string

const (
	// IsolationAuto picks the safest mode that can run here (see
	// selectIsolation).
	IsolationAuto Isolation = "auto"
	// IsolationRootless runs the whole build in a user namespace, the
	// invoking user mapped to root inside, and each RUN in further mount,
	// PID, UTS, IPC and network namespaces nested in it.
	IsolationRootless Isolation = "rootless"
	// IsolationRoot runs RUN in namespaces created by real root, hardened
	// (capability bounding set, seccomp, masked paths, its own network).
	IsolationRoot Isolation = "root"
	// IsolationContainer runs RUN in the container skiff itself runs in,
	// for containers that can create neither namespaces nor mounts.
	IsolationContainer Isolation = "container"
)

// Isolations lists the modes in the order auto considers them for an
// ordinary user; the CLI uses it for help text.
var Isolations = []Isolation{IsolationRootless, IsolationRoot, IsolationContainer}

// ParseIsolation validates an --isolation value ("" means auto).
func ParseIsolation(s string) (Isolation, error) {
	switch m := Isolation(s); m {
	case "", IsolationAuto:
		return IsolationAuto, nil
	case IsolationRootless, IsolationRoot, IsolationContainer:
		return m, nil
	}
	return "", fmt.Errorf("unknown isolation %q (want auto, rootless, root or container)", s)
}

// Entitlements are what a build may do beyond the default confinement; each
// must be allowed by the user (--allow), as with BuildKit's entitlements.
type Entitlements struct {
	// NetworkHost lets RUN --network=host (and docker.network: host) share
	// the host's network namespace (--allow network.host).
	NetworkHost bool
	// DeviceNodes lets device nodes from base layers and COPY --from be
	// created and opened in RUN (root isolation only; --allow device).
	DeviceNodes bool
}

// ParseEntitlements reads --allow values: network.host and device.
func ParseEntitlements(values []string) (Entitlements, error) {
	var e Entitlements
	for _, v := range values {
		switch v {
		case "network.host":
			e.NetworkHost = true
		case "device":
			e.DeviceNodes = true
		default:
			return Entitlements{}, fmt.Errorf("unknown entitlement %q (want network.host or device)", v)
		}
	}
	return e, nil
}

// isolator is one isolation mode: everything the builder does differently
// depending on how RUN is confined. The builder asks it for the snapshotter
// of every stage (and of COPY --link) and hands it every RUN; nothing else
// in the builder looks at the mode. A mode is added by implementing this
// interface and returning it from isolatorFor.
//
// A mode whose build must run somewhere else altogether (rootless: inside a
// user namespace, in a re-executed worker process) implements relocator as
// well; Build then hands the whole build to it.
type isolator interface {
	// mode names the mode; it is reported in an IsolationSelected event.
	mode() Isolation
	// check reports why the mode cannot run here, nil when it can. The
	// error is one phrase that says what is missing and how to get it
	// (the builder joins the reasons of every mode auto tried).
	check() error
	// newSnapshotter returns an empty snapshotter for one stage's (or one
	// COPY --link's) filesystem. kind is what the user asked for
	// (--snapshotter; snapshot.Auto by default).
	newSnapshotter(store *snapshot.Store, kind snapshot.Kind, opts snapshot.Options) (snapshot.Snapshotter, error)
	// run executes one RUN command in spec.Root (a directory of the
	// stage's snapshotter, see newSnapshotter) and waits for it. A command
	// that ran and failed returns *sandbox.ExitError.
	run(ctx context.Context, spec sandbox.Spec) error
}

// noter is implemented by a mode that has something to tell the user
// whenever it is selected (container mode: RUN uses the container's
// network); Build reports it as a Warning event.
type noter interface {
	note() string
}

// protector is implemented by a mode whose tree holds files that are not
// the image's (container mode builds in /): COPY asks it about each
// destination path.
type protector interface {
	protection() func(hostPath string) oci.Protection
}

// protection is the build's protector's answer, nil for a mode without one.
func (b *builder) protection() func(string) oci.Protection {
	if p, ok := b.iso.(protector); ok {
		return p.protection()
	}
	return nil
}

// relocator is implemented by a mode whose builds run in another process
// (see isolator).
type relocator interface {
	// relocate runs the whole build where the mode confines it and returns
	// its result; ok is false when the build already runs there and Build
	// goes on in this process.
	relocate(ctx context.Context, opts Options) (res *Result, ok bool, err error)
}

// isolatorFor returns the implementation of one mode.
func isolatorFor(m Isolation, opts Options) isolator {
	switch m {
	case IsolationRoot:
		return rootIsolation{allow: opts.Allow}
	case IsolationRootless:
		return rootlessIsolation{}
	case IsolationContainer:
		return &containerIsolation{opts: opts}
	}
	return nil
}

// autoOrder is the order in which auto tries the modes. For an ordinary
// user that is rootless, then container. For root it is root first:
// rootless for root would either map root to an unprivileged range, and
// then the build could no longer read root's own build context, secrets and
// registry credentials (a checkout under /root, a 0600 key), or map root to
// itself, which leaves every file the builder touches exactly as writable
// as in root mode, while hardened root mode already takes every capability
// outside Docker's default set, applies the runtime's seccomp profile and
// gives RUN its own network. Rootless is where it is the safer choice for
// root: where root cannot create mounts and namespaces itself (a container
// without CAP_SYS_ADMIN) but may create a user namespace, it is tried
// before container mode, which changes the very filesystem skiff runs in
// and so comes last, for containers that allow nothing else.
func autoOrder(euid int) []Isolation {
	if euid == 0 {
		return []Isolation{IsolationRoot, IsolationRootless, IsolationContainer}
	}
	return []Isolation{IsolationRootless, IsolationContainer}
}

// NoIsolationError reports that no isolation mode can run here: each mode
// tried, and why it cannot.
type NoIsolationError struct {
	Tried []Isolation
	// Reasons holds one error per mode of Tried.
	Reasons []error
}

func (e *NoIsolationError) Error() string {
	parts := make([]string, len(e.Tried))
	for i, m := range e.Tried {
		parts[i] = fmt.Sprintf("%s: %v", m, e.Reasons[i])
	}
	if len(e.Tried) == 1 {
		return "isolation " + parts[0]
	}
	return "no isolation can run RUN steps here: " + strings.Join(parts, "; ")
}

// SelectIsolation returns the mode a build with these options runs in: the
// requested one if it can run here, the first of autoOrder that can for
// auto, and a *NoIsolationError otherwise.
func SelectIsolation(opts Options) (Isolation, error) {
	iso, err := selectIsolation(opts, nil)
	if err != nil {
		return "", err
	}
	return iso.mode(), nil
}

// selectIsolation does SelectIsolation; euid overrides the process's
// effective uid in tests.
func selectIsolation(opts Options, euid *int) (isolator, error) {
	req := opts.Isolation
	if req == "" {
		req = IsolationAuto
	}
	order := []Isolation{req}
	if req == IsolationAuto {
		id := geteuid()
		if euid != nil {
			id = *euid
		}
		order = autoOrder(id)
	}
	e := &NoIsolationError{}
	for _, m := range order {
		iso := isolatorFor(m, opts)
		if iso == nil {
			return nil, fmt.Errorf("unknown isolation %q", m)
		}
		err := iso.check()
		if err == nil {
			return iso, nil
		}
		e.Tried = append(e.Tried, m)
		e.Reasons = append(e.Reasons, err)
	}
	return nil, e
}

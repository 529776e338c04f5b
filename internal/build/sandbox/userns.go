package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// rootlessEnv marks a process that EnterRootless re-executed in skiff's user
// namespace: "sync" while it waits for its id mappings, "enter" when it
// re-executed itself as root of the namespace, "1" once it runs.
const rootlessEnv = "_SKIFF_ROOTLESS"

// InUserNamespace reports whether this process runs in a user namespace
// other than the initial one.
var InUserNamespace = sync.OnceValue(func() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	return strings.Join(strings.Fields(string(b)), " ") != "0 0 4294967295"
})

// Rootless reports whether this process is the one EnterRootless started:
// it runs as root of a user namespace of its own and may mount and create
// further namespaces there.
func Rootless() bool { return os.Getenv(rootlessEnv) == "1" && InUserNamespace() }

// IDMap is how EnterRootless maps ids into the user namespace: the
// invoking user (and group) is 0 inside, and, with a subordinate range,
// ids 1..Count are the range starting at Start on the host.
type IDMap struct {
	UID, GID int
	// SubUID and SubGID are the first subordinate ids and their count
	// (from /etc/subuid and /etc/subgid); Count 0 means a single-id
	// mapping.
	SubUID, SubGID       int
	SubUIDs, SubGIDs     int
	newuidmap, newgidmap string
	// Single says why there is only the single-id mapping (empty when
	// there is a range).
	Single string
}

// PlanRootless finds the mapping EnterRootless will use for this user. A
// missing range or a missing newuidmap is not an error: the mapping is then
// a single id, and Single says why and what that loses.
func PlanRootless() IDMap {
	m := IDMap{UID: os.Geteuid(), GID: os.Getegid()}
	name := strconv.Itoa(m.UID)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	uidStart, uidCount := subordinate("/etc/subuid", name, m.UID)
	gidStart, gidCount := subordinate("/etc/subgid", name, m.UID)
	nu, errU := exec.LookPath("newuidmap")
	ng, errG := exec.LookPath("newgidmap")
	switch {
	case uidCount == 0 || gidCount == 0:
		m.Single = fmt.Sprintf("user %s has no range in /etc/subuid and /etc/subgid (add one: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s)", name, name)
	case errU != nil || errG != nil:
		m.Single = "newuidmap and newgidmap are not installed (apt-get install uidmap)"
	default:
		m.SubUID, m.SubUIDs, m.SubGID, m.SubGIDs = uidStart, uidCount, gidStart, gidCount
		m.newuidmap, m.newgidmap = nu, ng
	}
	if m.Single != "" {
		m.Single += ": the build maps only your own ids, so files it gives another owner (COPY --chown, USER with chown, base layers owned by other ids) fail"
	}
	return m
}

// subordinate returns the first range of name (or uid) in a subuid/subgid
// file.
func subordinate(file, name string, uid int) (start, count int) {
	f, err := os.Open(file)
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(parts) != 3 || (parts[0] != name && parts[0] != strconv.Itoa(uid)) {
			continue
		}
		s, err1 := strconv.Atoi(parts[1])
		c, err2 := strconv.Atoi(parts[2])
		if err1 == nil && err2 == nil && c > 0 {
			return s, c
		}
	}
	return 0, 0
}

// EnterRootless re-executes this program, with the same arguments,
// environment and standard streams, as root of a new user namespace (the
// mapping m) with a mount namespace of its own, and waits for it; it returns
// the program's exit code. There Rootless reports true: the program may
// mount overlayfs and start RUN steps in further namespaces, and everything
// it mounts goes away with it. Signals that end skiff (SIGINT, SIGTERM,
// SIGHUP) are passed on.
func EnterRootless(ctx context.Context, m IDMap) (int, error) {
	syncR, syncW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer syncW.Close()
	cmd := exec.CommandContext(ctx, "/proc/self/exe")
	cmd.Path = "/proc/self/exe"
	cmd.Args = os.Args
	cmd.Env = append(os.Environ(), rootlessEnv+"=sync")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{syncR}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		Pdeathsig:  syscall.SIGKILL,
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	err = cmd.Start()
	syncR.Close()
	if err != nil {
		return 0, fmt.Errorf("isolation rootless: %w", userNamespaceError(err))
	}
	if err := writeIDMaps(cmd.Process.Pid, m); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return 0, fmt.Errorf("isolation rootless: mapping ids: %w", err)
	}
	if _, err := syncW.Write([]byte{1}); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return 0, fmt.Errorf("isolation rootless: %w", err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				_ = cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 0, err
	}
	return 0, nil
}

// writeIDMaps maps pid's user namespace: with newuidmap/newgidmap and the
// subordinate ranges, or the single ids directly (which an unprivileged
// process may do for its own ids once setgroups is denied).
func writeIDMaps(pid int, m IDMap) error {
	p := strconv.Itoa(pid)
	if m.Single == "" {
		run := func(bin string, id, start, count int) error {
			args := []string{p, "0", strconv.Itoa(id), "1", "1", strconv.Itoa(start), strconv.Itoa(count)}
			if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
				return fmt.Errorf("%s: %v: %s", bin, err, strings.TrimSpace(string(out)))
			}
			return nil
		}
		if err := run(m.newuidmap, m.UID, m.SubUID, m.SubUIDs); err != nil {
			return err
		}
		return run(m.newgidmap, m.GID, m.SubGID, m.SubGIDs)
	}
	dir := "/proc/" + p + "/"
	if err := os.WriteFile(dir+"uid_map", fmt.Appendf(nil, "0 %d 1\n", m.UID), 0); err != nil {
		return err
	}
	if err := os.WriteFile(dir+"setgroups", []byte("deny"), 0); err != nil {
		return err
	}
	return os.WriteFile(dir+"gid_map", fmt.Appendf(nil, "0 %d 1\n", m.GID), 0)
}

// enterRootlessChild runs in the process EnterRootless started, first thing:
// it waits until its ids are mapped and re-executes itself, so that the
// program starts as uid 0 of the namespace with its capabilities there
// (the first exec ran before the mapping and dropped them).
func enterRootlessChild() {
	f := os.NewFile(3, "rootless-sync")
	b := make([]byte, 1)
	if n, _ := f.Read(b); n != 1 {
		os.Exit(125) // the parent failed to map the ids and said why
	}
	f.Close()
	env := os.Environ()
	for i, e := range env {
		if strings.HasPrefix(e, rootlessEnv+"=") {
			env[i] = rootlessEnv + "=enter"
		}
	}
	err := unix.Exec("/proc/self/exe", os.Args, env)
	fmt.Fprintf(os.Stderr, "skiff: isolation rootless: re-executing: %v\n", err)
	os.Exit(125)
}

// rootlessStarted runs first thing in the re-executed program, now root of
// the namespace: nothing it mounts may propagate anywhere.
func rootlessStarted() {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fmt.Fprintf(os.Stderr, "skiff: isolation rootless: making mounts private: %v\n", err)
		os.Exit(125)
	}
	os.Setenv(rootlessEnv, "1")
}

var (
	usernsOnce sync.Once
	usernsErr  error
)

// ProbeUserNamespace reports whether this process can create what rootless
// isolation needs: a user namespace with a mount namespace in which it may
// mount. The error names what to check (it never changes a sysctl).
func ProbeUserNamespace() error {
	usernsOnce.Do(func() { usernsErr = probeUserNamespace() })
	return usernsErr
}

func probeUserNamespace() error {
	if noNewPrivs() {
		return errNoNewPrivs
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{probeArg0}
	cmd.Env = []string{childEnv + "=1"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}},
		Pdeathsig:   syscall.SIGKILL,
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		if msg := strings.TrimSpace(string(out)); msg != "" {
			return errors.New(msg)
		}
		return userNamespaceError(err)
	}
	return nil
}

// errNoNewPrivs is why rootless isolation cannot run under no_new_privs:
// EnterRootless execs into the new user namespace before its ids are
// mapped and again after, and under no_new_privs an exec never gains
// capabilities (nor does a setuid newuidmap), so the second process would
// be root of the namespace without any. The probe itself execs after the
// mapping and would pass; it must not.
var errNoNewPrivs = errors.New("no_new_privs is set on this process (a container with allowPrivilegeEscalation: false): rootless isolation cannot regain capabilities in its user namespace; use --isolation=container")

// noNewPrivs reports whether this process runs with no_new_privs set.
func noNewPrivs() bool {
	v, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	return err == nil && v == 1
}

// userNamespaceError explains why a user namespace could not be created.
func userNamespaceError(err error) error {
	switch {
	case errors.Is(err, unix.ENOSPC):
		return errors.New("user namespaces are disabled here (user.max_user_namespaces is 0; check it with sysctl user.max_user_namespaces)")
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return errors.New("creating a user namespace is not permitted (check sysctl kernel.unprivileged_userns_clone and kernel.apparmor_restrict_unprivileged_userns; inside a container use --isolation=container)")
	}
	return fmt.Errorf("creating a user namespace: %w", err)
}

package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// The package's init runs Init, so that any binary linking the sandbox —
// skiff itself, and the test binaries of every package that builds images —
// can be re-executed as a sandbox child without remembering a hook. A child
// is recognised by both the marker variable and its argv[0], which only Run
// sets; in every other process this is a no-op.
func init() { Init() }

// Init sets up the sandbox and executes the command when the process is a
// sandbox child re-executed by Run, never returning; anywhere else it returns
// immediately. The package's init already calls it; main may call it first
// thing as well, to make the re-exec visible.
func Init() {
	switch os.Getenv(rootlessEnv) {
	case "sync":
		enterRootlessChild()
	case "enter":
		rootlessStarted()
	}
	if os.Getenv(childEnv) != "1" || len(os.Args) == 0 {
		return
	}
	switch os.Args[0] {
	case "skiff-sandbox":
	case probeArg0:
		probeChild()
	default:
		return
	}
	errPipe := os.NewFile(4, "sandbox-errors")
	fail := func(format string, args ...any) {
		fmt.Fprintf(errPipe, format, args...)
		os.Exit(125)
	}
	var spec Spec
	if err := json.NewDecoder(os.NewFile(3, "sandbox-spec")).Decode(&spec); err != nil {
		fail("reading spec: %v", err)
	}
	unix.CloseOnExec(3)
	unix.CloseOnExec(4)
	if err := setup(&spec); err != nil {
		fail("%v", err)
	}
	path, err := lookPath(spec.Args[0], spec.Env)
	if err != nil {
		fail("%v", err)
	}
	// Exec closes the error pipe; the parent then knows the command started.
	err = unix.Exec(path, spec.Args, spec.Env)
	fail("executing %s: %v", spec.Args[0], err)
}

// setup builds the sandbox's view of the world and switches into it.
func setup(spec *Spec) error {
	root := spec.Root
	// Nothing mounted here may propagate back to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("binding root: %w", err)
	}
	// Device nodes in the root filesystem (from a base layer, COPY --from or
	// anything else) cannot be opened unless the user allowed them.
	if !spec.AllowDevices {
		if err := remount(root, unix.MS_NODEV); err != nil {
			return fmt.Errorf("making the root nodev: %w", err)
		}
	}
	in := func(p string) (string, error) { return securejoin.SecureJoin(root, p) }

	proc, err := in("/proc")
	if err != nil {
		return err
	}
	if err := unix.Mount("proc", proc, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	if err := setupDev(in); err != nil {
		return err
	}
	if err := setupSys(in, spec.Network); err != nil {
		return err
	}
	mounts := append([]Mount{
		{Type: "bind", Source: spec.HostsFile, Target: "/etc/hosts", ReadOnly: true},
		{Type: "bind", Source: spec.ResolvConf, Target: "/etc/resolv.conf", ReadOnly: true},
	}, spec.Mounts...)
	for _, m := range mounts {
		if err := mountOne(in, m); err != nil {
			return err
		}
	}
	if spec.Network != NetworkHost {
		if err := loopbackUp(); err != nil {
			return err
		}
	}
	if err := maskProc(proc); err != nil {
		return err
	}
	if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
		return fmt.Errorf("setting hostname: %w", err)
	}
	if err := pivot(root); err != nil {
		return err
	}
	if err := dropCapabilities(); err != nil {
		return err
	}
	if err := newSessionKeyring(); err != nil {
		return err
	}
	u := spec.User
	if err := setGroups(u); err != nil {
		return err
	}
	if err := unix.Setresgid(int(u.GID), int(u.GID), int(u.GID)); err != nil {
		return fmt.Errorf("setting gid %d: %w", u.GID, err)
	}
	if err := unix.Setresuid(int(u.UID), int(u.UID), int(u.UID)); err != nil {
		return fmt.Errorf("setting uid %d: %w", u.UID, err)
	}
	// Changing credentials cleared the parent-death signal.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("setting parent-death signal: %w", err)
	}
	if err := os.Chdir(spec.Dir); err != nil {
		return fmt.Errorf("working directory %s: %w", spec.Dir, err)
	}
	return applySeccomp()
}

// setupDev mounts a tmpfs /dev with the usual safe devices. Device nodes
// are bind mounts of the host's, so the sandbox needs no CAP_MKNOD.
func setupDev(in func(string) (string, error)) error {
	dev, err := in("/dev")
	if err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755,size=65536k"); err != nil {
		return fmt.Errorf("mounting /dev: %w", err)
	}
	for _, name := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		p := filepath.Join(dev, name)
		if err := os.WriteFile(p, nil, 0o666); err != nil {
			return err
		}
		if err := unix.Mount("/dev/"+name, p, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding /dev/%s: %w", name, err)
		}
	}
	for _, d := range []string{"pts", "shm", "mqueue"} {
		if err := os.Mkdir(filepath.Join(dev, d), 0o755); err != nil {
			return err
		}
	}
	if err := unix.Mount("devpts", filepath.Join(dev, "pts"), "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return fmt.Errorf("mounting /dev/pts: %w", err)
	}
	if err := unix.Mount("shm", filepath.Join(dev, "shm"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=65536k"); err != nil {
		return fmt.Errorf("mounting /dev/shm: %w", err)
	}
	if err := unix.Mount("mqueue", filepath.Join(dev, "mqueue"), "mqueue", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		_ = os.Remove(filepath.Join(dev, "mqueue")) // optional
	}
	links := [][2]string{{"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}}
	for _, l := range links {
		if err := os.Symlink(l[0], filepath.Join(dev, l[1])); err != nil {
			return err
		}
	}
	return nil
}

func mountOne(in func(string) (string, error), m Mount) error {
	target, err := in(m.Target)
	if err != nil {
		return err
	}
	// Mount points under /dev live in the sandbox's own tmpfs, so the parent
	// could not create them.
	if _, err := os.Lstat(target); err != nil && strings.HasPrefix(m.Target, "/dev/") {
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if fi, serr := os.Stat(m.Source); serr == nil && !fi.IsDir() {
			err = os.WriteFile(target, nil, 0o644)
		} else {
			err = os.Mkdir(target, 0o755)
		}
		if err != nil {
			return fmt.Errorf("mount point %s: %w", m.Target, err)
		}
	}
	switch m.Type {
	case "tmpfs":
		if err := unix.Mount("tmpfs", target, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
			return fmt.Errorf("mounting tmpfs at %s: %w", m.Target, err)
		}
	case "bind", "":
		if err := unix.Mount(m.Source, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("mounting %s: %w", m.Target, err)
		}
		// Context, cache, secret and stage mounts never carry working
		// setuid files or device nodes.
		flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV)
		if m.ReadOnly {
			flags |= unix.MS_RDONLY
		}
		if err := remount(target, flags); err != nil {
			return fmt.Errorf("mounting %s nosuid,nodev: %w", m.Target, err)
		}
	default:
		return fmt.Errorf("unknown mount type %q for %s", m.Type, m.Target)
	}
	return nil
}

// maskProc hides or write-protects the parts of /proc that reach the host
// kernel, like container runtimes do.
func maskProc(proc string) error {
	for _, p := range []string{"kcore", "keys", "latency_stats", "timer_list", "timer_stats", "sched_debug", "sysrq-trigger"} {
		t := filepath.Join(proc, p)
		if _, err := os.Lstat(t); err != nil {
			continue
		}
		if err := unix.Mount("/dev/null", t, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("masking /proc/%s: %w", p, err)
		}
	}
	for _, p := range []string{"acpi", "asound", "scsi"} {
		t := filepath.Join(proc, p)
		if fi, err := os.Lstat(t); err != nil || !fi.IsDir() {
			continue
		}
		if err := unix.Mount("tmpfs", t, "tmpfs", unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("masking /proc/%s: %w", p, err)
		}
	}
	for _, p := range []string{"bus", "fs", "irq", "sys"} {
		t := filepath.Join(proc, p)
		if _, err := os.Lstat(t); err != nil {
			continue
		}
		if err := unix.Mount(t, t, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("protecting /proc/%s: %w", p, err)
		}
		if err := unix.Mount("", t, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return fmt.Errorf("protecting /proc/%s: %w", p, err)
		}
	}
	return nil
}

// pivot makes root the process's root and detaches the host's.
func pivot(root string) error {
	if err := unix.Chdir(root); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the host root: %w", err)
	}
	return unix.Chdir("/")
}

// allowedCaps is Docker's default capability set without CAP_MKNOD: with no
// device cgroup here, a device node would give the build the host's disks.
var allowedCaps = map[int]bool{
	unix.CAP_CHOWN: true, unix.CAP_DAC_OVERRIDE: true, unix.CAP_FOWNER: true, unix.CAP_FSETID: true,
	unix.CAP_KILL: true, unix.CAP_SETGID: true, unix.CAP_SETUID: true, unix.CAP_SETPCAP: true,
	unix.CAP_NET_BIND_SERVICE: true, unix.CAP_NET_RAW: true, unix.CAP_SYS_CHROOT: true,
	unix.CAP_AUDIT_WRITE: true, unix.CAP_SETFCAP: true,
}

// dropCapabilities removes every other capability from the bounding set,
// which caps what the command (and anything it executes) can ever hold.
func dropCapabilities() error {
	last := 40
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			last = n
		}
	}
	for c := 0; c <= last; c++ {
		if allowedCaps[c] {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && err != syscall.EINVAL {
			return fmt.Errorf("dropping capability %d: %w", c, err)
		}
	}
	return nil
}

// lookPath finds file in the PATH of env, inside the sandbox.
func lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	os.Setenv("PATH", path)
	p, err := exec.LookPath(file)
	if err != nil {
		return "", fmt.Errorf("%s: command not found in PATH %s", file, path)
	}
	return p, nil
}

// loopbackUp brings up lo in a fresh network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("network namespace: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("reading lo flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing lo up: %w", err)
	}
	return nil
}

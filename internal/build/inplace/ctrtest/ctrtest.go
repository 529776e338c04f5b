// Package ctrtest makes a real unprivileged container without a container
// engine, for tests of container isolation: new mount, PID, UTS and IPC
// namespaces, pivot_root into a prepared root filesystem, /proc, /sys (read
// only), a minimal /dev, runc's read-only and masked paths (/proc/sys,
// /proc/keys, /sys/firmware, ...), the runtime's /etc/hosts and
// /etc/resolv.conf mounts and volume binds, containerd's default capability
// set (no CAP_SYS_ADMIN), no_new_privs and containerd's default seccomp
// profile — what a Kubernetes pod gets with seccompProfile RuntimeDefault.
// It shares the host's network, as a pod with hostNetwork does, so that the
// sandbox registry on loopback is reachable, and it is confined by a
// devices cgroup with runc's default rules (cgroup v1). Test binaries that
// use it call Init first in TestMain.
package ctrtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/skiff-dev/skiff/internal/seccomp"
)

// Bind is a host path mounted into the container (a volume).
type Bind struct {
	Source, Target string
	ReadOnly       bool
}

// Config describes the container and its one process.
type Config struct {
	// Rootfs is the host directory that becomes /.
	Rootfs string
	// Args is the process (Args[0] an absolute path inside Rootfs); Env
	// and Dir its environment and working directory.
	Args []string
	Env  []string
	Dir  string
	// Binds are volumes; /etc/hosts and /etc/resolv.conf are always bound
	// from the host, as container runtimes do.
	Binds          []Bind
	Stdout, Stderr io.Writer `json:"-"`
	// MaxRSS, when set, receives the peak resident memory in bytes of the
	// container's process (the command executes as the container's init).
	MaxRSS *int64 `json:"-"`
}

// devicesRoot is the cgroup v1 devices hierarchy.
const devicesRoot = "/sys/fs/cgroup/devices"

// runtimeDevices are the devices a container may open, as runc allows
// them by default; any device may be created (mknod), none other opened.
var runtimeDevices = []string{"c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
	"c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm"}

// deviceCgroup puts pid in a devices cgroup of its own with the runtime's
// device rules and returns what removes it. Without the cgroup v1 devices
// controller (cgroup v2 uses BPF programs instead) there is none, and
// device nodes a build creates could be opened.
func deviceCgroup(pid int) (func(), error) {
	if _, err := os.Stat(filepath.Join(devicesRoot, "devices.deny")); err != nil {
		return func() {}, nil
	}
	dir := filepath.Join(devicesRoot, fmt.Sprintf("skiff-ctrtest-%d", pid))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("ctrtest: devices cgroup: %w", err)
	}
	remove := func() {
		// The container's processes are gone once it has been waited for;
		// rmdir fails only while a straggler exits.
		for range 100 {
			if err := os.Remove(dir); err == nil || errors.Is(err, fs.ErrNotExist) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	write := func(file, v string) error { return os.WriteFile(filepath.Join(dir, file), []byte(v), 0o644) }
	err := write("devices.deny", "a")
	for _, r := range runtimeDevices {
		if err == nil {
			err = write("devices.allow", r)
		}
	}
	if err == nil {
		err = write("cgroup.procs", fmt.Sprint(pid))
	}
	if err != nil {
		remove()
		return nil, fmt.Errorf("ctrtest: devices cgroup: %w", err)
	}
	return remove, nil
}

// initEnv marks the re-executed test binary as a container's init.
const initEnv = "_SKIFF_CTRTEST_INIT"

// Run runs cfg.Args in a new container and waits for it; the error of a
// process that exits non-zero is an *exec.ExitError.
func Run(ctx context.Context, cfg Config) error {
	if len(cfg.Args) == 0 {
		return errors.New("ctrtest: no command")
	}
	specR, specW, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "/proc/self/exe")
	cmd.Args = []string{"skiff-ctrtest-init"}
	cmd.Env = []string{initEnv + "=1"}
	cmd.Stdout, cmd.Stderr = cfg.Stdout, cfg.Stderr
	cmd.ExtraFiles = []*os.File{specR}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
		Pdeathsig:  syscall.SIGKILL,
	}
	err = cmd.Start()
	specR.Close()
	if err != nil {
		specW.Close()
		return fmt.Errorf("ctrtest: starting the container: %w", err)
	}
	// The init waits for its spec, so it is confined before it sets up.
	cg, err := deviceCgroup(cmd.Process.Pid)
	if err != nil {
		specW.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return err
	}
	defer cg()
	encErr := json.NewEncoder(specW).Encode(cfg)
	specW.Close()
	waitErr := cmd.Wait()
	if cfg.MaxRSS != nil && cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			*cfg.MaxRSS = ru.Maxrss << 10
		}
	}
	if encErr != nil {
		return encErr
	}
	return waitErr
}

// Init turns a process Run started into the container and executes its
// command; anywhere else it returns at once.
func Init() {
	if os.Getenv(initEnv) != "1" || len(os.Args) == 0 || os.Args[0] != "skiff-ctrtest-init" {
		return
	}
	// Capabilities and no_new_privs belong to a thread: set them on the
	// one that executes the command.
	runtime.LockOSThread()
	var cfg Config
	if err := json.NewDecoder(os.NewFile(3, "spec")).Decode(&cfg); err != nil {
		fail("reading the spec: %v", err)
	}
	if err := setup(cfg); err != nil {
		fail("%v", err)
	}
	err := unix.Exec(cfg.Args[0], cfg.Args, cfg.Env)
	fail("executing %s: %v", cfg.Args[0], err)
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ctrtest: "+format+"\n", args...)
	os.Exit(125)
}

func setup(cfg Config) error {
	root := cfg.Rootfs
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("binding the root: %w", err)
	}
	in := func(p string) string { return filepath.Join(root, p) }
	for _, d := range []string{"proc", "sys", "dev", "etc"} {
		if err := os.MkdirAll(in(d), 0o755); err != nil {
			return err
		}
	}
	if err := unix.Mount("proc", in("proc"), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	if err := unix.Mount("sysfs", in("sys"), "sysfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /sys: %w", err)
	}
	if err := setupDev(in("dev")); err != nil {
		return err
	}
	if err := protectPaths(in); err != nil {
		return err
	}
	binds := append([]Bind{{Source: "/etc/hosts", Target: "/etc/hosts", ReadOnly: true},
		{Source: "/etc/resolv.conf", Target: "/etc/resolv.conf", ReadOnly: true}}, cfg.Binds...)
	for _, b := range binds {
		if err := bind(b.Source, in(b.Target), b.ReadOnly); err != nil {
			return fmt.Errorf("volume %s: %w", b.Target, err)
		}
	}
	if err := unix.Sethostname([]byte("skiff-ctrtest")); err != nil {
		return err
	}
	if err := unix.Chdir(root); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the host's root: %w", err)
	}
	if err := dropCapabilities(); err != nil {
		return err
	}
	p, err := seccomp.Default()
	if err != nil {
		return err
	}
	f, err := seccomp.Compile(p)
	if err != nil {
		return err
	}
	if err := f.Load(); err != nil { // sets no_new_privs first
		return err
	}
	dir := cfg.Dir
	if dir == "" {
		dir = "/"
	}
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("working directory %s: %w", dir, err)
	}
	return nil
}

// readonlyPaths and maskedPaths are runc's defaults (what containerd gives
// every container): kernel settings read-only, and what tells about the
// host, its keys among them, hidden.
var (
	readonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
	maskedPaths   = []string{"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
		"/sys/firmware", "/sys/devices/virtual/powercap"}
)

// protectPaths makes readonlyPaths read-only and masks maskedPaths (a
// directory with an empty read-only tmpfs, a file with /dev/null), as runc
// does; a path this kernel does not have is left out.
func protectPaths(in func(string) string) error {
	for _, p := range readonlyPaths {
		t := in(p)
		if _, err := os.Lstat(t); err != nil {
			continue
		}
		if err := unix.Mount(t, t, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("read-only %s: %w", p, err)
		}
		if err := unix.Mount("", t, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return fmt.Errorf("read-only %s: %w", p, err)
		}
	}
	for _, p := range maskedPaths {
		t := in(p)
		fi, err := os.Stat(t)
		if err != nil {
			continue
		}
		if fi.IsDir() {
			err = unix.Mount("tmpfs", t, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=0")
		} else {
			err = unix.Mount("/dev/null", t, "", unix.MS_BIND, "")
		}
		if err != nil {
			return fmt.Errorf("masking %s: %w", p, err)
		}
	}
	return nil
}

// bind mounts src at target, creating target like src (file or directory).
func bind(src, target string, ro bool) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(target); err != nil {
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if fi.IsDir() {
			err = os.Mkdir(target, 0o755)
		} else {
			err = os.WriteFile(target, nil, 0o644)
		}
		if err != nil {
			return err
		}
	}
	if err := unix.Mount(src, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	if ro {
		return unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, "")
	}
	return nil
}

// setupDev mounts a tmpfs /dev with the devices a runtime gives, bound
// from the host's.
func setupDev(dev string) error {
	if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID, "mode=755,size=65536k"); err != nil {
		return fmt.Errorf("mounting /dev: %w", err)
	}
	for _, n := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		if err := bind("/dev/"+n, filepath.Join(dev, n), false); err != nil {
			return fmt.Errorf("/dev/%s: %w", n, err)
		}
	}
	for _, d := range []string{"pts", "shm"} {
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
	for _, l := range [][2]string{{"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}} {
		if err := os.Symlink(l[0], filepath.Join(dev, l[1])); err != nil {
			return err
		}
	}
	return nil
}

// capNumbers maps the names in containerd's default set to numbers.
var capNumbers = map[string]int{
	"CAP_CHOWN": unix.CAP_CHOWN, "CAP_DAC_OVERRIDE": unix.CAP_DAC_OVERRIDE, "CAP_FSETID": unix.CAP_FSETID,
	"CAP_FOWNER": unix.CAP_FOWNER, "CAP_MKNOD": unix.CAP_MKNOD, "CAP_NET_RAW": unix.CAP_NET_RAW,
	"CAP_SETGID": unix.CAP_SETGID, "CAP_SETUID": unix.CAP_SETUID, "CAP_SETFCAP": unix.CAP_SETFCAP,
	"CAP_SETPCAP": unix.CAP_SETPCAP, "CAP_NET_BIND_SERVICE": unix.CAP_NET_BIND_SERVICE,
	"CAP_SYS_CHROOT": unix.CAP_SYS_CHROOT, "CAP_KILL": unix.CAP_KILL, "CAP_AUDIT_WRITE": unix.CAP_AUDIT_WRITE,
}

// DefaultCapabilities is containerd's default set as a bit mask, as
// /proc/PID/status shows it (CapBnd).
func DefaultCapabilities() (uint64, error) {
	names, err := seccomp.DefaultCapabilities()
	if err != nil {
		return 0, err
	}
	var mask uint64
	for _, n := range names {
		c, ok := capNumbers[n]
		if !ok {
			return 0, fmt.Errorf("unknown capability %s", n)
		}
		mask |= 1 << c
	}
	return mask, nil
}

// dropCapabilities keeps containerd's default set: in the bounding set
// (what the command can ever have) and in this thread's sets.
func dropCapabilities() error {
	keep, err := DefaultCapabilities()
	if err != nil {
		return err
	}
	last := 63
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		fmt.Sscan(strings.TrimSpace(string(bytes.TrimSpace(b))), &last)
	}
	for c := 0; c <= last; c++ {
		if keep&(1<<c) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("dropping capability %d: %w", c, err)
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{}
	for i := range data {
		v := uint32(keep >> (32 * i))
		data[i] = unix.CapUserData{Effective: v, Permitted: v, Inheritable: v}
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("setting capabilities: %w", err)
	}
	return nil
}

package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/skiff-dev/skiff/internal/seccomp"
)

// remount adds flags to the bind mount at target, keeping the flags it
// already has: in a user namespace the kernel refuses to drop the flags a
// mount inherited from its parent namespace (they are locked).
func remount(target string, flags uintptr) error {
	var st unix.Statfs_t
	if err := unix.Statfs(target, &st); err != nil {
		return err
	}
	keep := map[int64]uintptr{
		unix.ST_RDONLY: unix.MS_RDONLY, unix.ST_NOSUID: unix.MS_NOSUID, unix.ST_NODEV: unix.MS_NODEV,
		unix.ST_NOEXEC: unix.MS_NOEXEC, unix.ST_NOATIME: unix.MS_NOATIME, unix.ST_NODIRATIME: unix.MS_NODIRATIME,
		unix.ST_RELATIME: unix.MS_RELATIME, unix.ST_SYNCHRONOUS: unix.MS_SYNCHRONOUS,
	}
	for st_, ms := range keep {
		if st.Flags&st_ != 0 {
			flags |= ms
		}
	}
	return unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_BIND|flags, "")
}

// setupSys mounts a read-only /sys (a sysfs of the sandbox's own network
// namespace, or the host's bound read-only where sysfs cannot be mounted:
// in a user namespace sharing the host's network) and masks the parts that
// reach the host's firmware and power controls, as container runtimes do.
func setupSys(in func(string) (string, error), network Network) error {
	sys, err := in("/sys")
	if err != nil {
		return err
	}
	if fi, err := os.Lstat(sys); err != nil || !fi.IsDir() {
		return nil
	}
	const ro = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if err := unix.Mount("sysfs", sys, "sysfs", ro, ""); err != nil {
		if !errors.Is(err, unix.EPERM) || network != NetworkHost {
			return fmt.Errorf("mounting /sys: %w", err)
		}
		if err := unix.Mount("/sys", sys, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("binding /sys: %w", err)
		}
		if err := remount(sys, ro); err != nil {
			return fmt.Errorf("making /sys read-only: %w", err)
		}
	}
	for _, p := range []string{"firmware", "devices/virtual/powercap"} {
		t := filepath.Join(sys, p)
		if fi, err := os.Lstat(t); err != nil || !fi.IsDir() {
			continue
		}
		if err := unix.Mount("tmpfs", t, "tmpfs", ro, "size=0"); err != nil {
			return fmt.Errorf("masking /sys/%s: %w", p, err)
		}
	}
	return nil
}

// newSessionKeyring gives the command a fresh, empty session keyring, so it
// cannot reach keys of the session skiff was started in.
func newSessionKeyring() error {
	_, _, errno := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0)
	if errno != 0 && errno != unix.ENOSYS {
		return fmt.Errorf("creating a session keyring: %w", errno)
	}
	return nil
}

// setGroups sets the supplementary groups. Where setgroups is denied (a
// user namespace that maps a single id), only the primary group can be
// represented, and anything more is an error that says how to get more.
func setGroups(u User) error {
	groups := make([]int, len(u.Groups))
	for i, g := range u.Groups {
		groups[i] = int(g)
	}
	b, _ := os.ReadFile("/proc/self/setgroups")
	if strings.TrimSpace(string(b)) == "deny" {
		for _, g := range u.Groups {
			if g != u.GID {
				return fmt.Errorf("supplementary group %d cannot be set: this rootless build maps a single id (give the user ranges in /etc/subuid and /etc/subgid)", g)
			}
		}
		return nil
	}
	if err := unix.Setgroups(groups); err != nil {
		return fmt.Errorf("setting groups: %w", err)
	}
	return nil
}

// applySeccomp installs containerd's default seccomp profile (for its
// default capability set, without CAP_SYS_ADMIN: namespaces, mounts,
// keyrings, kernel modules, BPF, ptrace of others and the like are refused)
// with no_new_privs, as the last step before the command is executed.
func applySeccomp() error {
	if !seccomp.Supported() {
		return errors.New("the kernel has no seccomp filters, which RUN needs")
	}
	p, err := seccomp.Default()
	if err != nil {
		return err
	}
	f, err := seccomp.Compile(p)
	if err != nil {
		return err
	}
	return f.Load()
}

package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestCleanupStaysInRoot: a command that renames the parent of its mount
// target and plants a symlink to a host directory must not make the
// cleanup of mount points delete or touch host files (finding 1).
func TestCleanupStaysInRoot(t *testing.T) {
	for _, link := range []string{"abs", "rel"} {
		t.Run(link, func(t *testing.T) {
			root := busyboxRoot(t)
			host := t.TempDir()
			victim := filepath.Join(host, "victim.sock")
			if err := os.Mkdir(victim, 0o755); err != nil {
				t.Fatal(err)
			}
			old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
			os.Chtimes(host, old, old)
			target := host
			if link == "rel" {
				target = "../../../../../../../.." + host
			}
			out, err := run(t, Spec{Root: root, Mounts: []Mount{{Type: "tmpfs", Target: "/x/victim.sock"}},
				Args: []string{"sh", "-c", "mv /x /y && ln -s " + target + " /x"}})
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if _, err := os.Stat(victim); err != nil {
				t.Errorf("the host's %s was removed by the cleanup: %v", victim, err)
			}
			if fi, _ := os.Stat(host); !fi.ModTime().Equal(old) {
				t.Errorf("the host directory's time changed to %v", fi.ModTime())
			}
			if _, err := os.Lstat(filepath.Join(root, "y/victim.sock")); err != nil {
				t.Errorf("the renamed mount point should stay in the root (it is the command's change): %v", err)
			}
		})
	}
}

// TestResolveUserHostileDatabases: a FIFO at /etc/passwd must not hang
// user resolution, ids the kernel treats as "unchanged" are refused, and
// an image without /etc/passwd still runs steps without a USER as root
// (findings 5, 9, 10).
func TestResolveUserHostileDatabases(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	u, err := ResolveUser(root, "")
	if err != nil || u.UID != 0 || u.GID != 0 {
		t.Errorf("no USER without /etc/passwd = %+v, %v; want 0:0", u, err)
	}
	if _, err := ResolveUser(root, "app"); err == nil || !strings.Contains(err.Error(), "/etc/passwd") {
		t.Errorf("named user without /etc/passwd: err = %v", err)
	}
	for _, spec := range []string{"4294967295", "4294967296", "0:4294967295", "99999999999999999999"} {
		if _, err := ResolveUser(root, spec); err == nil || !strings.Contains(err.Error(), "out of range") && !strings.Contains(err.Error(), "not a numeric id") {
			t.Errorf("USER %s: err = %v, want out of range", spec, err)
		}
	}
	if err := unix.Mkfifo(filepath.Join(root, "etc/passwd"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := ResolveUser(root, "app"); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("FIFO /etc/passwd: err = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("resolving a user hangs on a FIFO at /etc/passwd")
	}
	os.Remove(filepath.Join(root, "etc/passwd"))
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("evil:x:4294967295:0::/:/bin/sh\n"), 0o644)
	if _, err := ResolveUser(root, "evil"); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("passwd entry with uid 4294967295: err = %v", err)
	}
}

// TestRunHardening: what a RUN as root sees of the host kernel: no device
// node opens, the host's keyring is not reachable, /sys/firmware and
// /proc/keys are masked, namespaces cannot be created (seccomp), and the
// network is its own (findings 2, 3, 4, 10).
func TestRunHardening(t *testing.T) {
	root := busyboxRoot(t)
	os.MkdirAll(filepath.Join(root, "sys"), 0o755)
	// A device node in the root filesystem (as a layer or COPY --from
	// could have left without the extraction's filter).
	if err := unix.Mknod(filepath.Join(root, "null-node"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	script := strings.Join([]string{
		"echo x > /null-node && echo DEVICE-OPENED",
		"ls -A /sys/firmware | wc -l",
		"cat /proc/keys | wc -l",
		"unshare -U true && echo USERNS",
		"unshare -m true && echo MOUNTNS",
		"ls /sys/class/net | tr '\\n' ' '",
	}, "; ")
	out, err := run(t, Spec{Root: root, Args: []string{"sh", "-c", script}})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, bad := range []string{"DEVICE-OPENED", "USERNS", "MOUNTNS"} {
		if strings.Contains(out, bad+"\n") {
			t.Errorf("sandbox allowed %s:\n%s", bad, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	if strings.Contains(last, "eth") || strings.Contains(last, "ens") || !strings.Contains(last, "lo") {
		t.Errorf("the sandbox sees network interfaces %q; want its own namespace", last)
	}
	for _, want := range []string{"0"} {
		if n := strings.Count(out, want+"\n"); n < 2 {
			t.Errorf("/sys/firmware or /proc/keys not empty:\n%s", out)
		}
	}
}

// TestRunKeyring: a key in the session and user keyrings of the process
// that starts the sandbox is out of reach of the command (finding 3): the
// command gets a new session keyring and the seccomp profile refuses
// keyctl.
func TestRunKeyring(t *testing.T) {
	root := busyboxRoot(t)
	withProbe(t, root)
	for _, ring := range []int{unix.KEY_SPEC_SESSION_KEYRING, unix.KEY_SPEC_USER_KEYRING} {
		id, err := unix.AddKey("user", "skiff-test-sentinel", []byte("host-secret"), ring)
		if err != nil {
			t.Fatalf("adding a key to the host keyring: %v", err)
		}
		defer unix.KeyctlInt(unix.KEYCTL_REVOKE, id, 0, 0, 0)
	}
	// The key is readable here, so the probe can tell.
	if _, err := unix.KeyctlSearch(unix.KEY_SPEC_USER_KEYRING, "user", "skiff-test-sentinel", 0); err != nil {
		t.Fatalf("the host cannot find its own key: %v", err)
	}
	out, err := run(t, Spec{Root: root, Args: []string{"/probe", "keys", "skiff-test-sentinel"}})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.Contains(out, "host-secret") || strings.Contains(out, ": ok") || strings.Count(out, "refused") != 3 {
		t.Errorf("the sandbox reaches the host's keyrings:\n%s", out)
	}
}

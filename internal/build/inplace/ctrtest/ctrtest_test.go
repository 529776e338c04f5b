package ctrtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/testenv"
)

func TestMain(m *testing.M) {
	Init()
	os.Exit(m.Run())
}

// BusyboxRoot makes a root filesystem holding a static busybox.
func busyboxRoot(t *testing.T) string {
	t.Helper()
	testenv.RequireRoot(t, "the harness creates namespaces and mounts")
	bb := testenv.RequireCommand(t, "busybox")
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range strings.Fields(string(out)) {
		_ = os.Symlink("busybox", filepath.Join(root, "bin", a))
	}
	return root
}

// TestHarnessIsAnUnprivilegedContainer checks from inside what a process
// in the harness has: PID 1 of its own namespace, the pivoted root,
// containerd's capabilities, no_new_privs and a seccomp filter that
// refuses namespaces and mounts even to root.
func TestHarnessIsAnUnprivilegedContainer(t *testing.T) {
	root := busyboxRoot(t)
	var out bytes.Buffer
	script := strings.Join([]string{
		"echo pid=$$",
		"grep -E '^(CapBnd|CapEff|NoNewPrivs|Seccomp):' /proc/self/status",
		"ls / | tr '\\n' ' '; echo",
		"unshare -U true 2>/dev/null && echo UNSHARED",
		"mkdir -p /mnt && mount -t tmpfs none /mnt 2>/dev/null && echo MOUNTED",
		"mknod /kmsg c 1 11 && echo made; echo x 2>/dev/null > /kmsg && echo OPENED",
		"echo ok > /dev/null && echo null-works",
		"v=$(cat /proc/sys/kernel/printk_ratelimit) && echo sysctl-readable",
		// writes back the value it has: were the write allowed, nothing changes
		"(echo $v > /proc/sys/kernel/printk_ratelimit) 2>/dev/null && echo SYSCTL-WRITTEN",
		"wc -c < /proc/keys; ls -A /sys/firmware | wc -l",
		"id -u",
	}, "; ")
	err := Run(context.Background(), Config{Rootfs: root, Args: []string{"/bin/sh", "-c", script}, Env: []string{"PATH=/bin"},
		Stdout: &out, Stderr: &out})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	caps, err := DefaultCapabilities()
	if err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"pid=1\n", fmt.Sprintf("CapBnd:\t%016x\n", caps), fmt.Sprintf("CapEff:\t%016x\n", caps),
		"NoNewPrivs:\t1\n", "Seccomp:\t2\n", "bin dev etc proc sys \n", "made\n", "null-works\n", "sysctl-readable\n", "\n0\n0\n0\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	for _, bad := range []string{"UNSHARED", "MOUNTED", "OPENED", "SYSCTL-WRITTEN"} {
		if strings.Contains(got, bad) {
			t.Errorf("the container allowed %s:\n%s", bad, got)
		}
	}
}

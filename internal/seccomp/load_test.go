package seccomp

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/skiff-dev/skiff/internal/seccomp/internal/int80"
)

// childEnv makes the test binary a process that loads the default filter
// and reports what its probes got.
const childEnv = "SKIFF_SECCOMP_TEST_CHILD"

// int80Env makes the test binary try one i386 system call: kernels
// without the 32-bit ABI (or with it turned off) kill the process.
const int80Env = "SKIFF_SECCOMP_TEST_INT80"

func TestMain(m *testing.M) {
	if os.Getenv(int80Env) == "probe" {
		int80.Syscall(20, 0, 0, 0)
		os.Exit(0)
	}
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(child(dir))
	}
	os.Exit(m.Run())
}

// probe results are errno names ("ok" for success).
func child(dir string) int {
	p, err := Default()
	if err == nil {
		var f *Filter
		if f, err = Compile(p); err == nil {
			err = f.Load()
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	res := map[string]string{}
	errName := func(err error) string {
		var en syscall.Errno
		switch {
		case err == nil:
			return "ok"
		case errors.As(err, &en):
			return unix.ErrnoName(en)
		}
		return err.Error()
	}
	raw := func(_, _ uintptr, e syscall.Errno) string {
		if e != 0 {
			return unix.ErrnoName(e)
		}
		return "ok"
	}
	i386 := func(r int32) string {
		if r < 0 && r > -4096 {
			return unix.ErrnoName(syscall.Errno(-r))
		}
		return "ok"
	}
	res["unshare(CLONE_NEWUSER)"] = errName(unix.Unshare(unix.CLONE_NEWUSER))
	res["unshare(CLONE_NEWNS)"] = errName(unix.Unshare(unix.CLONE_NEWNS))
	_, err = unix.KeyctlJoinSessionKeyring("skiff-test")
	res["keyctl"] = errName(err)
	// A file system type that does not exist: without the filter this is
	// ENODEV, so a broken filter never mounts anything on the host.
	target := filepath.Join(dir, "mnt")
	_ = os.Mkdir(target, 0o755)
	res["mount"] = errName(unix.Mount("none", target, "skiff-no-such-fs", 0, ""))
	res["clone3"] = raw(unix.RawSyscall(unix.SYS_CLONE3, 0, 0, 0))
	if os.Getenv(int80Env) == "yes" {
		res["i386 getpid"] = i386(int80.Syscall(20, 0, 0, 0))
		res["i386 unshare"] = i386(int80.Syscall(310, unix.CLONE_NEWUSER, 0, 0))
		res["i386 keyctl"] = i386(int80.Syscall(288, 1, 0, 0))
	}
	// This kernel may lack the x32 ABI (ENOSYS): the filter decides first.
	x32 := func(nr uintptr) string {
		_, _, e := unix.RawSyscall(nr|x32Bit, 0, 0, 0)
		if e == unix.ENOSYS || e == 0 {
			return "passed"
		}
		return raw(0, 0, e)
	}
	res["x32 getpid"] = x32(39)
	res["x32 unshare"] = x32(272)
	// What a build step does still works.
	f := filepath.Join(dir, "file")
	err = os.WriteFile(f, []byte("data"), 0o644)
	if err == nil {
		var b []byte
		if b, err = os.ReadFile(f); err == nil && string(b) != "data" {
			err = fmt.Errorf("read %q", b)
		}
	}
	res["write and read a file"] = errName(err)
	out, err := exec.Command("/bin/sh", "-c", "echo $((6*7)) > "+filepath.Join(dir, "sh")+" && cat "+filepath.Join(dir, "sh")).Output()
	if err == nil && strings.TrimSpace(string(out)) != "42" {
		err = fmt.Errorf("sh printed %q", out)
	}
	res["fork and exec a shell"] = errName(err)
	res["chown"] = errName(os.Chown(f, 1000, 1000))
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return 2
	}
	return 0
}

// TestLoadDefault loads containerd's default profile into a child process
// (running as root here, with every capability) and checks that what a
// container may not do fails as it does under containerd, and the rest
// works.
func TestLoadDefault(t *testing.T) {
	if !Supported() {
		t.Fatal("the kernel has no seccomp filters")
	}
	dir := t.TempDir()
	probe := exec.Command(os.Args[0], "-test.run=^$")
	probe.Env = append(os.Environ(), int80Env+"=probe")
	has386 := probe.Run() == nil
	if !has386 {
		// TestDefaultProfileDecisions covers i386 in the BPF interpreter.
		t.Log("this kernel runs no i386 system calls; checking x86_64 and x32 only")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir, fmt.Sprintf("%s=%s", int80Env, map[bool]string{true: "yes", false: "no"}[has386]))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	var got map[string]string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := map[string]string{
		"unshare(CLONE_NEWUSER)": "EPERM",
		"unshare(CLONE_NEWNS)":   "EPERM",
		"keyctl":                 "EPERM",
		"mount":                  "EPERM",
		"clone3":                 "ENOSYS",
		"i386 getpid":            "ok",
		"i386 unshare":           "EPERM",
		"i386 keyctl":            "EPERM",
		"x32 getpid":             "passed",
		"x32 unshare":            "EPERM",
		"write and read a file":  "ok",
		"fork and exec a shell":  "ok",
		"chown":                  "ok",
	}
	if !has386 {
		delete(want, "i386 getpid")
		delete(want, "i386 unshare")
		delete(want, "i386 keyctl")
	}
	if os.Geteuid() != 0 {
		want["chown"] = "EPERM" // not the filter: an ordinary user cannot give files away
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("under the filter (-want +got):\n%s", diff)
	}
}

package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// probeArg0 marks a re-executed process that only checks that it could be
// started in new namespaces and may make its mounts private.
const probeArg0 = "skiff-sandbox-probe"

var (
	probeOnce sync.Once
	probeErr  error
)

// ProbeNamespaces reports whether this process can create what root
// isolation needs: a child in new mount, PID, UTS, IPC and network
// namespaces that may mount. It starts such a child once per process and
// remembers the answer; the error says what is missing.
func ProbeNamespaces() error {
	probeOnce.Do(func() { probeErr = probeNamespaces() })
	return probeErr
}

func probeNamespaces() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (run as root or use --isolation=rootless)")
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{probeArg0}
	cmd.Env = []string{childEnv + "=1"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC | syscall.CLONE_NEWNET,
		Pdeathsig:  syscall.SIGKILL,
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			return errors.New("creating namespaces is not permitted here (no CAP_SYS_ADMIN, or a seccomp profile forbids it; inside a container use --isolation=container)")
		}
		if msg := strings.TrimSpace(string(out)); msg != "" {
			return errors.New(msg)
		}
		return fmt.Errorf("creating namespaces: %w", err)
	}
	return nil
}

// probeChild is the probe's child: it tries to mount and exits.
func probeChild() {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fmt.Fprintf(os.Stderr, "mounting in a new mount namespace is not permitted here: %v (inside a container use --isolation=container)\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

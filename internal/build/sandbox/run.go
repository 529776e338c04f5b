package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
)

// Mount is an extra mount inside the sandbox.
type Mount struct {
	// Type is "bind" (Source is a host file or directory) or "tmpfs".
	Type     string `json:"type"`
	Source   string `json:"source,omitempty"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// Spec describes one command to run in a root filesystem.
type Spec struct {
	// Root is the host directory of the root filesystem; the command may
	// change it.
	Root string `json:"root"`
	// Args is the command; Args[0] is looked up in the PATH of Env inside
	// the root when it has no slash.
	Args []string `json:"args"`
	Env  []string `json:"env"`
	// Dir is the working directory inside the root, created if missing.
	Dir      string  `json:"dir"`
	User     User    `json:"user"`
	Hostname string  `json:"hostname"`
	Mounts   []Mount `json:"mounts,omitempty"`
	// Network is the command's network (default: a namespace of its own
	// with outbound traffic through slirp4netns).
	Network Network `json:"network,omitempty"`
	// AllowDevices lets device nodes in the root filesystem be opened;
	// otherwise the root is mounted nodev.
	AllowDevices bool `json:"allowDevices,omitempty"`
	// HostsFile and ResolvConf are host files bind-mounted read-only at
	// /etc/hosts and /etc/resolv.conf; empty means generated ones.
	HostsFile  string `json:"hostsFile,omitempty"`
	ResolvConf string `json:"resolvConf,omitempty"`

	Stdout io.Writer `json:"-"`
	Stderr io.Writer `json:"-"`
}

// ExitError reports a command that ran and failed.
type ExitError struct {
	Code   int
	Signal syscall.Signal
}

func (e *ExitError) Error() string {
	if e.Signal != 0 {
		return fmt.Sprintf("killed by signal %s", e.Signal)
	}
	return fmt.Sprintf("exit code %d", e.Code)
}

// childEnv marks a re-executed process as a sandbox child.
const childEnv = "_SKIFF_SANDBOX_CHILD"

// Run runs spec.Args isolated in spec.Root and waits for it. A command that
// exits non-zero returns *ExitError; a sandbox that cannot be set up returns
// another error. Cancelling ctx kills every process of the sandbox.
func Run(ctx context.Context, spec Spec) error {
	if len(spec.Args) == 0 {
		return errors.New("sandbox: empty command")
	}
	if spec.Dir == "" {
		spec.Dir = "/"
	}
	if spec.Hostname == "" {
		spec.Hostname = "skiff"
	}
	tmp, err := os.MkdirTemp("", "skiff-sandbox-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if spec.HostsFile == "" {
		spec.HostsFile = filepath.Join(tmp, "hosts")
		hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t" + spec.Hostname + "\n"
		if err := os.WriteFile(spec.HostsFile, []byte(hosts), 0o644); err != nil {
			return err
		}
	}
	var slirpBin string
	if spec.Network == NetworkSandbox {
		slirpBin, _ = UserModeStack() // without it: loopback only; the builder warns
	}
	if spec.ResolvConf == "" {
		spec.ResolvConf = filepath.Join(tmp, "resolv.conf")
		b, err := os.ReadFile("/etc/resolv.conf")
		if err != nil {
			b = nil
		}
		if slirpBin != "" {
			b = []byte("nameserver " + slirpResolver + "\n")
		}
		if err := os.WriteFile(spec.ResolvConf, b, 0o644); err != nil {
			return err
		}
	}

	stubs, err := makeStubs(spec)
	if err != nil {
		return fmt.Errorf("sandbox: preparing mount points: %w", err)
	}
	defer stubs.remove()
	if err := ensureDir(spec.Root, spec.Dir); err != nil {
		return fmt.Errorf("sandbox: working directory %s: %w", spec.Dir, err)
	}

	specR, specW, err := os.Pipe()
	if err != nil {
		return err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		specR.Close()
		specW.Close()
		return err
	}
	self, err := os.Executable()
	if err != nil {
		self = "/proc/self/exe"
	}
	cmd := exec.CommandContext(ctx, "/proc/self/exe")
	cmd.Path = "/proc/self/exe"
	cmd.Args = []string{"skiff-sandbox", self}
	cmd.Env = []string{childEnv + "=1"}
	cmd.Stdout, cmd.Stderr = spec.Stdout, spec.Stderr
	cmd.ExtraFiles = []*os.File{specR, errW}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
		Pdeathsig:  syscall.SIGKILL,
	}
	if spec.Network != NetworkHost {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWNET
	}
	startErr := cmd.Start()
	specR.Close()
	errW.Close()
	if startErr != nil {
		specW.Close()
		errR.Close()
		return fmt.Errorf("sandbox: starting: %w", startErr)
	}
	// The child waits for its spec, so the network is ready before the
	// command starts.
	if slirpBin != "" {
		net, err := startSlirp(ctx, slirpBin, cmd.Process.Pid)
		if err != nil {
			specW.Close()
			errR.Close()
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("sandbox: %w", err)
		}
		defer net.stop()
	}
	encErr := json.NewEncoder(specW).Encode(spec)
	specW.Close()
	setupMsg, _ := io.ReadAll(errR)
	errR.Close()
	waitErr := cmd.Wait()
	if len(setupMsg) > 0 {
		return fmt.Errorf("sandbox: %s", bytes.TrimSpace(setupMsg))
	}
	if encErr != nil {
		return fmt.Errorf("sandbox: sending spec: %w", encErr)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) {
		ws, _ := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			return &ExitError{Code: 128 + int(ws.Signal()), Signal: ws.Signal()}
		}
		return &ExitError{Code: ee.ExitCode()}
	}
	return waitErr
}

// ensureDir creates dir inside root (owned by root, mode 0755) unless it
// exists; this is a real change of the step, as in Docker.
func ensureDir(root, dir string) error {
	p, err := securejoin.SecureJoin(root, dir)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(p); err == nil {
		if !fi.IsDir() {
			return errors.New("not a directory")
		}
		return nil
	}
	return os.MkdirAll(p, 0o755)
}

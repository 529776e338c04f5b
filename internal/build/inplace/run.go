package inplace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"

	"github.com/skiff-dev/skiff/internal/build/sandbox"
)

// ErrNoNetworkNamespace is returned for RUN --network=none: container
// isolation cannot give a command a network of its own.
var ErrNoNetworkNamespace = errors.New("RUN --network=none needs a network namespace, which container isolation cannot create; " +
	"drop the flag, or build where --isolation=root or rootless can run")

// Run executes spec.Args in spec.Root as spec.User and waits for it: in
// the container's own root (spec.Root "/"), its network and its seccomp
// profile, with no namespace or mount of its own. A Root other than / is
// entered with chroot (tests). spec.Mounts are stood in for: their files
// are put at the targets for the command and taken away afterwards, with
// whatever was there before put back. Every process the command started
// and left behind is killed when it exits. A command that ran and failed
// returns *sandbox.ExitError.
func Run(ctx context.Context, spec sandbox.Spec) error {
	if len(spec.Args) == 0 {
		return errors.New("container isolation: empty command")
	}
	if spec.Network == sandbox.NetworkNone {
		return ErrNoNetworkNamespace
	}
	root := filepath.Clean(spec.Root)
	if root == "" || root == "." {
		root = "/"
	}
	dir := spec.Dir
	if dir == "" {
		dir = "/"
	}
	if err := ensureDir(root, dir); err != nil {
		return fmt.Errorf("working directory %s: %w", dir, err)
	}
	var st standIns
	defer st.remove()
	for _, m := range spec.Mounts {
		if err := st.put(root, m); err != nil {
			return fmt.Errorf("RUN --mount target %s: %w", m.Target, err)
		}
	}
	exe, err := lookPath(root, spec.Args[0], spec.Env)
	if err != nil {
		return err
	}
	cmd := exec.Command(exe)
	cmd.Args = spec.Args
	cmd.Env = spec.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = spec.Stdout, spec.Stderr
	u := spec.User
	groups := make([]uint32, len(u.Groups))
	copy(groups, u.Groups)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: groups},
		Setsid:     true,
		Pdeathsig:  syscall.SIGKILL,
	}
	if root != "/" {
		cmd.SysProcAttr.Chroot = root
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("container isolation: starting %s: %w", spec.Args[0], err)
	}
	sid := cmd.Process.Pid
	stop := context.AfterFunc(ctx, func() { killSession(sid) })
	waitErr := cmd.Wait()
	stop()
	// Whatever the command left running would go on changing the files.
	killSession(sid)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) {
		ws, _ := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			return &sandbox.ExitError{Code: 128 + int(ws.Signal()), Signal: ws.Signal()}
		}
		return &sandbox.ExitError{Code: ee.ExitCode()}
	}
	return waitErr
}

// killSession kills every process of session sid (the command made it)
// and waits, briefly, until none is left.
func killSession(sid int) {
	for range 50 {
		pids := sessionMembers(sid)
		if len(pids) == 0 {
			return
		}
		for _, p := range pids {
			_ = unix.Kill(p, unix.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sessionMembers lists the live processes of session sid from /proc.
func sessionMembers(sid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp session ...; comm may hold spaces.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 4 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if n, err := strconv.Atoi(f[3]); err == nil && n == sid {
			out = append(out, pid)
		}
	}
	return out
}

// ensureDir creates dir inside root (root-owned, 0755) unless it exists,
// as the namespaced sandbox does, never following a symlink out of root.
func ensureDir(root, dir string) error {
	return pathrs.MkdirAll(root, dir, 0o755)
}

// lookPath finds file in the PATH of env inside root and returns the path
// to execute (inside root when root is /, relative to it after chroot).
func lookPath(root, file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	pathEnv := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathEnv = v
		}
	}
	for _, d := range filepath.SplitList(pathEnv) {
		if d == "" || !filepath.IsAbs(d) {
			continue
		}
		cand := filepath.Join(d, file)
		host, err := securejoin.SecureJoin(root, cand)
		if err != nil {
			continue
		}
		if fi, err := os.Stat(host); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return cand, nil
		}
	}
	return "", fmt.Errorf("%s: command not found in PATH %s", file, pathEnv)
}

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Network is the network a command gets.
type Network string

const (
	// NetworkSandbox (the default) is a network namespace of the
	// command's own: outbound traffic goes through a user-mode network
	// stack (slirp4netns) when it is installed, and the host's loopback is
	// unreachable from it; without slirp4netns only the namespace's own
	// loopback works.
	NetworkSandbox Network = ""
	// NetworkNone is a network namespace with only a loopback interface
	// (RUN --network=none).
	NetworkNone Network = "none"
	// NetworkHost shares the host's network namespace (RUN --network=host,
	// which the builder only allows with --allow network.host).
	NetworkHost Network = "host"
)

// slirpResolver is the DNS forwarder slirp4netns offers in its default
// 10.0.2.0/24 network.
const slirpResolver = "10.0.2.3"

// UserModeStack returns the path of slirp4netns, through which the
// sandbox's network reaches outside, or an error that says how to install
// it.
func UserModeStack() (string, error) {
	p, err := exec.LookPath("slirp4netns")
	if err != nil {
		return "", errors.New("slirp4netns is not installed, so RUN has no outbound network (apt-get install slirp4netns)")
	}
	// As an ordinary user slirp4netns opens /dev/net/tun itself.
	if Rootless() && unix.Access("/dev/net/tun", unix.R_OK|unix.W_OK) != nil {
		return "", errors.New("slirp4netns cannot open /dev/net/tun as your user (Debian's udev makes it mode 0666; here it is not), so RUN has no outbound network")
	}
	return p, nil
}

// slirp is a running user-mode network stack attached to one sandbox.
type slirp struct {
	cmd  *exec.Cmd
	exit *os.File // closing it tells slirp4netns to exit
}

// startSlirp connects the network namespace of process pid to the outside
// through slirp4netns and returns once the namespace's tap0 interface is
// configured (10.0.2.100/24, gateway 10.0.2.2, DNS 10.0.2.3). The host's
// loopback is not reachable through the gateway.
func startSlirp(ctx context.Context, bin string, pid int) (*slirp, error) {
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer readyR.Close()
	exitR, exitW, err := os.Pipe()
	if err != nil {
		readyW.Close()
		return nil, err
	}
	cmd := exec.Command(bin, "--configure", "--mtu=65520", "--disable-host-loopback",
		"--enable-sandbox", "--enable-seccomp", "--ready-fd=3", "--exit-fd=4", strconv.Itoa(pid), "tap0")
	cmd.ExtraFiles = []*os.File{readyW, exitR}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	err = cmd.Start()
	readyW.Close()
	exitR.Close()
	if err != nil {
		exitW.Close()
		return nil, fmt.Errorf("starting slirp4netns: %w", err)
	}
	s := &slirp{cmd: cmd, exit: exitW}
	ready := make(chan error, 1)
	go func() {
		b := make([]byte, 1)
		_, err := readyR.Read(b)
		ready <- err
	}()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case err = <-ready:
	case <-ctx.Done():
		err = ctx.Err()
	case <-timer.C:
		err = errors.New("timed out")
	}
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("slirp4netns did not configure the network: %v %s", err, stderr.String())
	}
	return s, nil
}

// stop ends slirp4netns and waits for it.
func (s *slirp) stop() {
	s.exit.Close()
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

// limitedBuffer keeps the first 4 KiB written to it.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if n := 4096 - len(l.b); n > 0 {
		l.b = append(l.b, p[:min(n, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }

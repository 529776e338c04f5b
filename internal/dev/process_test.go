package dev_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/skiff-dev/skiff/internal/testenv"
)

// The integration tests drive a real skiff binary, built once from this
// module with go build (never the test binary itself).
var (
	binDir    string
	skiffPath = sync.OnceValues(func() (string, error) {
		out := filepath.Join(binDir, "skiff")
		cmd := exec.Command("go", "build", "-o", out, "github.com/skiff-dev/skiff")
		if b, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build: %v\n%s", err, b)
		}
		return out, nil
	})
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "skiff-dev-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// devProcess is a running `skiff dev` and everything it printed.
type devProcess struct {
	t    *testing.T
	cmd  *exec.Cmd
	mu   sync.Mutex
	cond *sync.Cond
	out  []string
	done chan error
}

func startDev(t *testing.T, env *testenv.Env, dir string, extraEnv []string, args ...string) *devProcess {
	t.Helper()
	bin, err := skiffPath()
	if err != nil {
		t.Fatal(err)
	}
	repo := path.Dir(env.Repo(t, "x"))
	cmd := exec.Command(bin, append([]string{"dev", "--kubeconfig", env.Kubeconfig(), "-d", repo}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "BASE_IMAGE="+env.BaseImage(), "XDG_CACHE_HOME="+t.TempDir())
	cmd.Env = append(cmd.Env, extraEnv...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	p := &devProcess{t: t, cmd: cmd, done: make(chan error, 1)}
	p.cond = sync.NewCond(&p.mu)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.mu.Lock()
			p.out = append(p.out, sc.Text())
			p.cond.Broadcast()
			p.mu.Unlock()
		}
	}()
	go func() {
		err := cmd.Wait()
		pw.Close()
		stdin.Close()
		p.mu.Lock()
		p.out = append(p.out, "<exited>")
		p.cond.Broadcast()
		p.mu.Unlock()
		p.done <- err
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
		if t.Failed() || os.Getenv("SKIFF_TEST_SHOW_OUTPUT") != "" {
			t.Logf("skiff dev output:\n%s", strings.Join(p.lines(0), "\n"))
		}
	})
	return p
}

func (p *devProcess) lines(from int) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string{}, p.out[from:]...)
}

// mark is the position of the next line.
func (p *devProcess) mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.out)
}

// waitFor waits for a line matching re printed at or after from and
// returns its submatches and the position after it. The deadline only
// keeps a broken loop from hanging the test run; the machine may be slow.
func (p *devProcess) waitFor(t testing.TB, from int, re string) ([]string, int) {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(3 * time.Minute)
	timer := time.AfterFunc(3*time.Minute, func() { p.cond.Broadcast() })
	defer timer.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := from; ; i++ {
		for i >= len(p.out) {
			if time.Now().After(deadline) {
				t.Fatalf("no line matching %q after line %d", re, from)
			}
			p.cond.Wait()
		}
		if m := rx.FindStringSubmatch(p.out[i]); m != nil {
			return m, i + 1
		}
		if p.out[i] == "<exited>" {
			t.Fatalf("skiff dev exited before printing a line matching %q", re)
		}
	}
}

func (p *devProcess) printedSince(from int, substr string) bool {
	for _, l := range p.lines(from) {
		if strings.Contains(l, substr) {
			return true
		}
	}
	return false
}

// interrupt sends SIGINT and waits for a clean exit.
func (p *devProcess) interrupt(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("skiff dev exited with %v after SIGINT", err)
		}
	case <-time.After(5 * time.Minute):
		t.Fatal("skiff dev did not exit after SIGINT")
	}
}

package sandbox

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/skiff-dev/skiff/internal/build/hostile"
	"github.com/skiff-dev/skiff/internal/testenv"
)

func TestMain(m *testing.M) {
	Init()
	code := m.Run()
	hostile.Cleanup()
	os.Exit(code)
}

// busyboxRoot makes a root filesystem with a static busybox, or skips.
func busyboxRoot(t *testing.T) string {
	t.Helper()
	testenv.RequireRoot(t, "sandboxes use namespaces and mounts")
	bb := testenv.RequireCommand(t, "busybox")
	root := t.TempDir()
	for _, d := range []string{"bin", "etc", "tmp", "proc", "dev"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(root, "tmp"), 0o1777)
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
	for _, applet := range strings.Fields(string(out)) {
		os.Symlink("busybox", filepath.Join(root, "bin", applet))
	}
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\napp:x:1000:\nextra:x:2000:app\n"), 0o644)
	return root
}

func run(t *testing.T, spec Spec) (string, error) {
	t.Helper()
	var out bytes.Buffer
	spec.Stdout, spec.Stderr = &out, &out
	if spec.Env == nil {
		spec.Env = []string{"PATH=/bin"}
	}
	err := Run(context.Background(), spec)
	return out.String(), err
}

func TestRun(t *testing.T) {
	root := busyboxRoot(t)
	u, err := ResolveUser(root, "app")
	if err != nil {
		t.Fatal(err)
	}
	out, err := run(t, Spec{
		Root: root, Dir: "/work/dir", User: u, Hostname: "builder",
		Env:  []string{"PATH=/bin", "FOO=bar"},
		Args: []string{"/bin/sh", "-c", `echo "$FOO"; id -u; id -g; id -G; pwd; hostname; echo $$; cat /etc/hosts | grep -c localhost; ls /dev | tr '\n' ' '`},
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := "bar\n1000\n1000\n1000 2000\n/work/dir\nbuilder\n1\n2\nfd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero "
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(root, "work/dir")); err != nil {
		t.Errorf("working directory not created in the root: %v", err)
	}
}

func TestRunExitCodes(t *testing.T) {
	root := busyboxRoot(t)
	tests := []struct {
		name    string
		args    []string
		wantErr string
		code    int
	}{
		{"exit code", []string{"sh", "-c", "exit 3"}, "exit code 3", 3},
		{"killed child", []string{"sh", "-c", `sh -c 'kill -9 $$'; exit $?`}, "exit code 137", 137},
		{"missing command", []string{"no-such-command"}, "no-such-command: command not found", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := run(t, Spec{Root: root, Args: tt.args})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			var ee *ExitError
			if tt.code != 0 && (!errors.As(err, &ee) || ee.Code != tt.code) {
				t.Errorf("exit error = %#v, want code %d", err, tt.code)
			}
		})
	}
}

// TestRunCannotTouchHost runs commands that try to write to the host and
// checks that nothing outside the root changed.
func TestRunCannotTouchHost(t *testing.T) {
	root := busyboxRoot(t)
	hostDir := t.TempDir()
	marker := filepath.Join(hostDir, "pwned")
	hostname, _ := os.Hostname()
	script := strings.Join([]string{
		"mkdir -p " + hostDir + "; echo x > " + marker,
		"mkdir -p /mnt; mount -t tmpfs none /mnt && echo MOUNTED",
		"mknod /tmp/disk b 8 0 && echo MKNOD",
		"echo 1 > /proc/sys/kernel/sysrq && echo SYSCTL",
		"hostname evil && echo HOSTNAME",
		"cd /../../../..; pwd",
		"ls /proc | grep -cE '^[0-9]+$'",
		"chroot / true; echo done",
	}, "; ")
	out, err := run(t, Spec{Root: root, Args: []string{"sh", "-c", script}})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, bad := range []string{"MOUNTED", "MKNOD", "SYSCTL", "HOSTNAME"} {
		if strings.Contains(out, bad+"\n") {
			t.Errorf("sandbox allowed %s:\n%s", bad, out)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the command wrote %s on the host", marker)
	}
	if b, err := os.ReadFile(filepath.Join(root, marker)); err != nil || string(b) != "x\n" {
		t.Errorf("the write did not land inside the root: %q %v", b, err)
	}
	if h, _ := os.Hostname(); h != hostname {
		t.Errorf("host name changed to %q", h)
	}
	if !strings.Contains(out, "\n/\n") {
		t.Errorf("cd .. left the root:\n%s", out)
	}
}

func TestRunMounts(t *testing.T) {
	root := busyboxRoot(t)
	secret := filepath.Join(t.TempDir(), "token")
	os.WriteFile(secret, []byte("s3cret"), 0o600)
	cache := t.TempDir()
	out, err := run(t, Spec{
		Root: root,
		Mounts: []Mount{
			{Type: "bind", Source: secret, Target: "/run/secrets/token", ReadOnly: true},
			{Type: "bind", Source: cache, Target: "/root/.cache/go"},
			{Type: "tmpfs", Target: "/scratch"},
		},
		Args: []string{"sh", "-c", "cat /run/secrets/token; echo; echo leak > /run/secrets/token || echo RO; echo warm > /root/.cache/go/f; echo t > /scratch/t"},
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.HasPrefix(out, "s3cret\n") || !strings.Contains(out, "RO") {
		t.Errorf("secret mount: %q", out)
	}
	if b, _ := os.ReadFile(filepath.Join(cache, "f")); string(b) != "warm\n" {
		t.Errorf("cache mount content = %q", b)
	}
	for _, p := range []string{"run", "root", "scratch"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			t.Errorf("mount point /%s left in the root", p)
		}
	}
	if b, _ := os.ReadFile(secret); string(b) != "s3cret" {
		t.Errorf("secret changed: %q", b)
	}
}

func TestRunCancel(t *testing.T) {
	root := busyboxRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := Run(ctx, Spec{Root: root, Env: []string{"PATH=/bin"}, Args: []string{"sh", "-c", "sleep 60 & sleep 60"}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}

func TestResolveUser(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\napp:x:1001:\nwheel:x:10:app,other\nstaff:x:50:\n"), 0o644)
	tests := []struct {
		spec    string
		want    User
		wantErr string
	}{
		{"", User{UID: 0, GID: 0, Groups: []uint32{0}, Home: "/root"}, ""},
		{"app", User{UID: 1000, GID: 1001, Groups: []uint32{1001, 10}, Home: "/home/app"}, ""},
		{"1000", User{UID: 1000, GID: 1001, Groups: []uint32{1001, 10}, Home: "/home/app"}, ""},
		{"app:staff", User{UID: 1000, GID: 50, Home: "/home/app"}, ""},
		{"4242:4343", User{UID: 4242, GID: 4343, Home: "/"}, ""},
		{"4242", User{UID: 4242, GID: 0, Groups: []uint32{0}, Home: "/"}, ""},
		{"nobody", User{}, `user "nobody" not found`},
		{"app:nogroup", User{}, `group "nogroup" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ResolveUser(root, tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

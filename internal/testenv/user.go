package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// User is an ordinary user a test created (useradd) to run programs as,
// removed with its home at cleanup.
type User struct {
	Name     string
	UID, GID int
	Home     string
	// SubIDs says whether the user has a range in /etc/subuid and
	// /etc/subgid.
	SubIDs bool
}

// NewUser creates an ordinary user with a home directory; with subIDs it
// also has a 65536-id range in /etc/subuid and /etc/subgid (useradd's
// default for a regular user), without it none (a system user, which
// useradd gives no range). It needs root: without it the test fails,
// except under -short.
func NewUser(t testing.TB, subIDs bool) *User {
	t.Helper()
	RequireRoot(t, "the test creates a user")
	useradd := RequireCommand(t, "useradd")
	userdel := RequireCommand(t, "userdel")
	name := fmt.Sprintf("skt%d%s", os.Getpid()%100000, map[bool]string{true: "r", false: "s"}[subIDs])
	args := []string{"--create-home", "--shell", "/bin/sh", "--user-group"}
	if !subIDs {
		args = append(args, "--system", "--home-dir", "/home/"+name)
	}
	_ = exec.Command(userdel, "--remove", name).Run() // a run killed before its cleanup
	if out, err := exec.Command(useradd, append(args, name)...).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(userdel, "--remove", name).CombinedOutput(); err != nil {
			t.Errorf("userdel %s: %v\n%s", name, err, out)
		}
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	nu := &User{Name: name, UID: uid, GID: gid, Home: u.HomeDir, SubIDs: hasRange("/etc/subuid", name)}
	if nu.SubIDs != subIDs {
		t.Fatalf("user %s: range in /etc/subuid = %v, want %v (useradd's SUB_UID_COUNT in /etc/login.defs?)", name, nu.SubIDs, subIDs)
	}
	return nu
}

func hasRange(file, name string) bool {
	b, _ := os.ReadFile(file)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, name+":") {
			return true
		}
	}
	return false
}

// Env is the environment of a login of the user.
func (u *User) Env() []string {
	return []string{"HOME=" + u.Home, "USER=" + u.Name, "LOGNAME=" + u.Name,
		"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}
}

// Dir makes a directory of the user's own under its home.
func (u *User) Dir(t testing.TB, name string) string {
	t.Helper()
	d := filepath.Join(u.Home, name)
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(d, u.UID, u.GID); err != nil {
		t.Fatal(err)
	}
	return d
}

// Command runs a program as the user (syscall.Credential, no supplementary
// groups) with the user's environment. Where /dev/net/tun is not open to
// every user (Debian's udev makes it 0666; a machine without udev leaves
// it 0600), the program runs in a mount namespace of its own in which
// /dev/net/tun is a 0666 node on a private tmpfs, as on a laptop; the host's
// node is not changed.
func (u *User) Command(ctx context.Context, t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/dev/net/tun", &st); err == nil && st.Mode&0o006 != 0o006 {
		tmp := t.TempDir()
		script := `set -e; mount -t tmpfs -o mode=755,size=16k skiff-tun "$0"; mknod -m 666 "$0/tun" c 10 200; ` +
			`mount --bind "$0/tun" /dev/net/tun; exec setpriv --reuid="$SKIFF_UID" --regid="$SKIFF_GID" --clear-groups -- "$@"`
		unshare := RequireCommand(t, "unshare")
		RequireCommand(t, "setpriv")
		cmd := exec.CommandContext(ctx, unshare, append([]string{"--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, tmp, name}, args...)...)
		cmd.Env = append(u.Env(), fmt.Sprintf("SKIFF_UID=%d", u.UID), fmt.Sprintf("SKIFF_GID=%d", u.GID))
		return cmd
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = u.Env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.UID), Gid: uint32(u.GID), Groups: []uint32{}}}
	return cmd
}

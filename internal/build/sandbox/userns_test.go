package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSubordinate(t *testing.T) {
	f := filepath.Join(t.TempDir(), "subuid")
	content := "alice:100000:65536\n# comment\nbob:notanumber:5\n1001:300000:1000\nbob:200000:0\ncarol:400000:65536\n"
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name         string
		uid          int
		start, count int
	}{
		{"alice", 1000, 100000, 65536},
		{"dave", 1001, 300000, 1000}, // by uid
		{"bob", 1002, 0, 0},          // no usable range
		{"carol", 1003, 400000, 65536},
	} {
		if s, c := subordinate(f, tt.name, tt.uid); s != tt.start || c != tt.count {
			t.Errorf("subordinate(%s) = %d, %d; want %d, %d", tt.name, s, c, tt.start, tt.count)
		}
	}
	if s, c := subordinate(filepath.Join(t.TempDir(), "missing"), "alice", 1000); s != 0 || c != 0 {
		t.Errorf("missing file: %d, %d", s, c)
	}
}

func TestUserNamespaceErrorNamesWhatToCheck(t *testing.T) {
	for err, want := range map[error]string{
		unix.ENOSPC: "sysctl user.max_user_namespaces",
		unix.EPERM:  "sysctl kernel.unprivileged_userns_clone",
	} {
		msg := userNamespaceError(err).Error()
		if !strings.Contains(msg, want) || strings.Contains(msg, "\n") {
			t.Errorf("%v: %q, want one line naming %q", err, msg, want)
		}
	}
}

// TestProbeUserNamespace: this machine lets every user create user
// namespaces (kernel 6.18 defaults), so the probe succeeds, as root too.
func TestProbeUserNamespace(t *testing.T) {
	if err := ProbeUserNamespace(); err != nil {
		if testing.Short() {
			t.Skipf("-short: %v", err)
		}
		t.Fatalf("ProbeUserNamespace: %v", err)
	}
	if InUserNamespace() || Rootless() {
		t.Errorf("the test binary is not in a user namespace: InUserNamespace %v, Rootless %v", InUserNamespace(), Rootless())
	}
}

package seccomp

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestEmbeddedProfileIsContainerds regenerates the embedded file from
// containerd's module (hack/seccomp) and compares: the profile is
// containerd's data, not a copy that drifts.
func TestEmbeddedProfileIsContainerds(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds hack/seccomp with containerd's module")
	}
	gen, err := filepath.Abs("../../hack/seccomp")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "run", ".")
	cmd.Dir = gen
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go run hack/seccomp: %v\n%s", err, stderr.String())
	}
	if diff := cmp.Diff(string(out), string(containerdDefault)); diff != "" {
		t.Errorf("containerd_default.json is not what hack/seccomp generates; run `cd hack/seccomp && go run . > ../../internal/seccomp/containerd_default.json` (-generated +embedded):\n%s", diff)
	}
}

func TestDefaultCapabilities(t *testing.T) {
	caps, err := DefaultCapabilities()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(caps)
	want := []string{"CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_MKNOD",
		"CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT"}
	if diff := cmp.Diff(want, caps); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	p, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	p.Syscalls[0].Names = nil
	if q, _ := Default(); len(q.Syscalls[0].Names) == 0 {
		t.Error("Default shares its rules with callers")
	}
}

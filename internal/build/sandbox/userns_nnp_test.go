package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/testenv"
)

// Under no_new_privs (a pod with allowPrivilegeEscalation: false but no
// seccomp profile that blocks user namespaces) the probe's own exec would
// succeed, yet EnterRootless could not: the probe must say so, so that
// auto isolation picks container mode instead of failing the first RUN.
func TestProbeUserNamespaceRefusesNoNewPrivs(t *testing.T) {
	if os.Getenv("SKIFF_TEST_NNP_CHILD") == "1" {
		fmt.Printf("probe: %v\n", ProbeUserNamespace())
		return
	}
	setpriv := testenv.RequireCommand(t, "setpriv")
	if err := ProbeUserNamespace(); errors.Is(err, errNoNewPrivs) {
		t.Fatalf("the test process itself has no_new_privs set: %v", err)
	}
	cmd := exec.Command(setpriv, "--no-new-privs", os.Args[0], "-test.run=^TestProbeUserNamespaceRefusesNoNewPrivs$", "-test.v")
	cmd.Env = append(os.Environ(), "SKIFF_TEST_NNP_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the probe under setpriv --no-new-privs: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "probe: "+errNoNewPrivs.Error()) {
		t.Errorf("under no_new_privs the probe did not refuse rootless isolation:\n%s", out)
	}
}

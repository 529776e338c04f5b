package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestSkiffTest(t *testing.T) {
	e, _ := onSandbox(t)
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "skaffold.yaml"), `apiVersion: skaffold/v4beta11
kind: Config
metadata: {name: tested}
build:
  artifacts:
    - image: app
test:
  - image: app
    custom:
      - command: 'case "$IMAGE" in *busybox*) echo custom sees $IMAGE;; *) exit 1;; esac'
    structureTests: [tests/*.yaml]
`)
	mustWrite(t, filepath.Join(dir, "tests", "structure.yaml"), `schemaVersion: 2.0.0
fileExistenceTests:
- {name: shell, path: /bin/sh, isExecutableBy: any}
commandTests:
- name: busybox runs
  command: sh
  args: ["-c", "echo from inside; id -u"]
  expectedOutput: ["from inside\n0\n"]
`)
	image := e.BaseImage() + "@" + e.Var("SKIFF_TEST_BASE_IMAGE_DIGEST")
	out := mustRun(t, dir, "test", "-i", "app="+image)
	if !strings.Contains(out, "3 tests, 3 passed, 0 failed") {
		t.Errorf("skiff test:\n%s", out)
	}

	mustWrite(t, filepath.Join(dir, "tests", "failing.yaml"), `schemaVersion: 2.0.0
fileContentTests:
- {name: motd, path: /etc/motd, expectedContents: [welcome]}
`)
	out, stderr, code := run(t, dir, "test", "-i", "app="+image)
	if code != ExitError || !strings.Contains(out, "FAIL") || !strings.Contains(out, "/etc/motd") || !strings.Contains(stderr, "1 of 4 tests failed") {
		t.Errorf("failing test: exit %d\n%s\n%s", code, out, stderr)
	}

	_, stderr, code = run(t, dir, "test")
	if code != ExitError || !strings.Contains(stderr, `no build of it; pass -a FILE`) {
		t.Errorf("no builds: exit %d, %s", code, stderr)
	}
}

package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/testenv"
)

func buildProject(t *testing.T, base string) string {
	t.Helper()
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "skaffold.yaml"), `apiVersion: skaffold/v4beta11
kind: Config
build:
  artifacts:
  - image: app
    context: app
    requires:
    - image: base
      alias: BASE
  - image: base
    docker:
      buildArgs:
        IMG: `+base+`
`)
	mustWrite(t, filepath.Join(dir, "Dockerfile"), "ARG IMG\nFROM $IMG\nRUN echo base > /base\n")
	mustWrite(t, filepath.Join(dir, "app", "Dockerfile"), "ARG BASE\nFROM $BASE\nCOPY hello.txt /\nRUN --mount=type=secret,id=tok cat /run/secrets/tok > /tok\nCMD [\"cat\", \"/hello.txt\"]\n")
	mustWrite(t, filepath.Join(dir, "app", "hello.txt"), "hello\n")
	mustWrite(t, filepath.Join(dir, "token"), "s3cret")
	return dir
}

func TestBuildCommand(t *testing.T) {
	env := testenv.Require(t)
	dir := buildProject(t, env.BaseImage())
	repo := strings.TrimSuffix(env.Repo(t, "x"), "/x")
	cache := t.TempDir()
	args := []string{"build", "-q", "--default-repo", repo, "--cache-dir", cache, "-t", "v1",
		"--file-output", filepath.Join(dir, "artifacts.json"), "--secret", "id=tok,src=token"}
	stdout, stderr, code := run(t, dir, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stderr != "" {
		t.Errorf("-q printed progress: %q", stderr)
	}
	var got artifact.File
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("stdout is not the artifacts JSON: %q", stdout)
	}
	if len(got.Builds) != 2 {
		t.Fatalf("builds = %+v", got.Builds)
	}
	for _, b := range got.Builds {
		if !strings.HasPrefix(b.Tag, repo+"/"+b.ImageName+":v1@sha256:") {
			t.Errorf("%s tagged %s", b.ImageName, b.Tag)
		}
	}
	written, err := os.ReadFile(filepath.Join(dir, "artifacts.json"))
	if err != nil || string(written) != stdout {
		t.Errorf("--file-output = %q, stdout %q", written, stdout)
	}

	// Without -q: progress on stderr, a result line per image on stdout, all cached.
	stdout2, stderr2, code := run(t, dir, "build", "--default-repo", repo, "--cache-dir", cache, "-t", "v1", "--secret", "id=tok,src=token")
	if code != 0 {
		t.Fatalf("rebuild exit %d: %s", code, stderr2)
	}
	for _, b := range got.Builds {
		if !strings.Contains(stdout2, b.ImageName+"\t"+b.Tag+"\n") {
			t.Errorf("rebuild stdout %q lacks %s", stdout2, b.Tag)
		}
	}
	if !strings.Contains(stderr2, "[app] isolation: root\n") {
		t.Errorf("progress does not name the isolation (root on a host as root):\n%s", stderr2)
	}
	if !strings.Contains(stderr2, "Built app:") || !strings.Contains(stderr2, "2 steps, 2 cached, nothing new to push") {
		t.Errorf("rebuild progress:\n%s", stderr2)
	}

	// Dry run: tags only.
	stdout3, _, code := run(t, dir, "build", "-q", "--dry-run", "--default-repo", repo, "-t", "v2")
	if code != 0 || !strings.Contains(stdout3, `"tag":"`+repo+`/app:v2"`) {
		t.Errorf("dry run: exit %d, %s", code, stdout3)
	}
	// -b builds the selected artifact and what it requires.
	stdout4, _, code := run(t, dir, "build", "-q", "--dry-run", "-b", "bas", "--default-repo", repo)
	if code != 0 || strings.Contains(stdout4, `"imageName":"app"`) || !strings.Contains(stdout4, `"imageName":"base"`) {
		t.Errorf("-b bas: exit %d, %s", code, stdout4)
	}
}

func TestBuildCommandErrors(t *testing.T) {
	dir := buildProject(t, "127.0.0.1:1/none:1")
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"build", "--compression", "lz4"}, ExitUsage, "--compression"},
		{[]string{"build", "--secret", "nope"}, ExitUsage, "--secret"},
		{[]string{"build", "--secret", "id=x,src=/does/not/exist"}, ExitUsage, "secret x"},
		{[]string{"build", "-b", "zzz", "--dry-run"}, ExitUsage, "matches no artifact"},
		{[]string{"build", "--snapshotter", "btrfs"}, ExitUsage, "--snapshotter"},
		{[]string{"build", "--isolation", "chroot"}, ExitUsage, "--isolation: unknown isolation \"chroot\" (want auto, rootless, root or container)"},
		{[]string{"build", "--allow", "security.insecure"}, ExitUsage, "--allow: unknown entitlement \"security.insecure\" (want network.host or device)"},
		// run, dev and test confine RUN and command tests the same way.
		{[]string{"run", "--isolation", "chroot"}, ExitUsage, "--isolation: unknown isolation \"chroot\""},
		{[]string{"dev", "--isolation", "chroot"}, ExitUsage, "--isolation: unknown isolation \"chroot\""},
		{[]string{"test", "--isolation", "chroot", "-a", "none.json"}, ExitUsage, "--isolation: unknown isolation \"chroot\""},
		{[]string{"dev", "--allow", "security.insecure"}, ExitUsage, "--allow: unknown entitlement"},
	}
	for _, tt := range tests {
		_, stderr, code := run(t, dir, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, code, stderr, tt.code, tt.want)
		}
	}
}

func TestImageImport(t *testing.T) {
	env := testenv.Require(t)
	if os.Geteuid() != 0 {
		t.Fatal("image import of a root filesystem with owners needs root")
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal("busybox-static is needed to make a root filesystem")
	}
	rootfs := t.TempDir()
	mustWrite(t, filepath.Join(rootfs, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n")
	b, _ := os.ReadFile(bb)
	if err := os.MkdirAll(filepath.Join(rootfs, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, applet := range []string{"sh", "cat", "echo"} {
		os.Symlink("busybox", filepath.Join(rootfs, "bin", applet))
	}
	ref := env.Repo(t, "imported") + ":1"
	stdout, stderr, code := run(t, "", "image", "import", "--reproducible", "--cmd", "sh", rootfs, ref)
	if code != 0 || !strings.HasPrefix(stdout, ref+"@sha256:") {
		t.Fatalf("import: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	again, _, _ := run(t, "", "image", "import", "--reproducible", "--cmd", "sh", rootfs, ref)
	if again != stdout {
		t.Errorf("reproducible import gave %q then %q", stdout, again)
	}
	// The imported image works as a base.
	dir := buildProject(t, ref)
	out, stderr, code := run(t, dir, "build", "-q", "-b", "base", "--default-repo", strings.TrimSuffix(env.Repo(t, "x"), "/x"), "--cache-dir", t.TempDir())
	if code != 0 || !strings.Contains(out, `"imageName":"base"`) {
		t.Errorf("build on the imported image: exit %d, %s %s", code, out, stderr)
	}
	if _, stderr, code := run(t, "", "image", "import", filepath.Join(rootfs, "missing"), ref); code == 0 || !strings.Contains(stderr, "missing") {
		t.Errorf("importing a missing path: exit %d, %q", code, stderr)
	}
}

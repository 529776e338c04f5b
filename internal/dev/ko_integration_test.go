package dev_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/dev"
	"github.com/skiff-dev/skiff/internal/testenv"
)

// TestDevKo runs skiff dev on the parity corpus's ko project: editing the
// package the program imports rebuilds and redeploys it; editing a Go file
// of the module that the program does not import does nothing.
func TestDevKo(t *testing.T) {
	t.Parallel()
	env := testenv.Require(t)
	cs := env.Clientset(t)
	src, err := filepath.Abs("../../testdata/parity/effective/ko")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	// Without dependencies.paths, the inputs are the imported packages.
	cfg, err := os.ReadFile(filepath.Join(dir, "skaffold.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cut := strings.Index(string(cfg), "        dependencies:")
	writeFile(t, filepath.Join(dir, "skaffold.yaml"), string(cfg[:cut]))
	writeFile(t, filepath.Join(dir, ".ko.yaml"), "defaultBaseImage: "+env.BaseImage()+"\n")
	writeFile(t, filepath.Join(dir, "internal/unused/unused.go"), "package unused\n")

	user := "t" + randomHex(4)
	ns, err := dev.NamespaceFor("ko-parity", user)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	// skiff dev runs with a fresh XDG_CACHE_HOME; the go tool keeps the
	// machine's build cache, or it would compile the standard library anew.
	gocache, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	p := startDev(t, env, dir, []string{"USER=" + user, "GOCACHE=" + strings.TrimSpace(string(gocache))})
	_, pos := p.waitFor(t, 0, `^Watching for changes`)
	before, _ := image(t, cs, ns, "hello")
	if !strings.Contains(before, "example_com_parity_cmd_hello:parity@sha256:") {
		t.Fatalf("hello runs %s, not the ko build", before)
	}

	from := p.mark()
	writeFile(t, filepath.Join(dir, "internal/greet/greet.go"), "// Package greet is imported by hello.\npackage greet\n\n// Hello is hello's greeting.\nfunc Hello() string { return \"hello again from ko\" }\n")
	p.waitFor(t, from, `^Deploy complete`)
	if !p.printedSince(from, "ko://example.com/parity/cmd/hello") {
		t.Errorf("no rebuild of the ko image reported:\n%s", strings.Join(p.lines(from), "\n"))
	}
	after, _ := image(t, cs, ns, "hello")
	if after == before {
		t.Errorf("hello still runs %s after its imported package changed", after)
	}

	from = p.mark()
	writeFile(t, filepath.Join(dir, "internal/unused/unused.go"), "package unused\n\n// X is new.\nconst X = 1\n")
	// The change to an unused package is noticed by nothing; a change to
	// main.go after it proves the loop is still listening, and that only
	// main.go's change was acted on.
	writeFile(t, filepath.Join(dir, "cmd/hello/main.go"), strings.Replace(readFile(t, filepath.Join(dir, "cmd/hello/main.go")), "var version", "// version is set by ldflags.\nvar version", 1))
	p.waitFor(t, from, `^Deploy complete`)
	for _, l := range p.lines(from) {
		if strings.Contains(l, "unused.go") {
			t.Errorf("the unused package's change was acted on: %q", l)
		}
	}

	p.interrupt(t)
	p.waitFor(t, pos, `^Cleanup complete`)
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

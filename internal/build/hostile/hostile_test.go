package hostile

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/skiff-dev/skiff/internal/build/inplace/ctrtest"
	"github.com/skiff-dev/skiff/internal/testenv"
)

func TestMain(m *testing.M) {
	ctrtest.Init() // the container of TestCorpusContainer
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

// TestCorpusRoot builds the whole corpus with the skiff binary as root
// (root isolation, picked by auto).
func TestCorpusRoot(t *testing.T) {
	testenv.RequireRoot(t, "root isolation")
	Run(t, Mode{Name: "root", Build: SkiffBuild(Invocation{CacheDir: t.TempDir()})})
}

// TestSentinelSeesEveryChange proves the corpus's host check can fail: each
// change a hostile build could make to the host tree (what findings 1 and 6
// did, and writes, owners, modes and links) changes the listing Run
// compares.
func TestSentinelSeesEveryChange(t *testing.T) {
	changes := map[string]func(dir string) error{
		"file removed from a directory": func(d string) error { return os.Remove(filepath.Join(d, "c", "b")) },
		"directory removed":             func(d string) error { return os.Remove(filepath.Join(d, "victim.sock")) },
		"directory times": func(d string) error {
			return os.Chtimes(filepath.Join(d, "c"), time.Now(), time.Now())
		},
		"file content":   func(d string) error { return os.WriteFile(filepath.Join(d, "a"), []byte("pwned\n"), 0o644) },
		"file mode":      func(d string) error { return os.Chmod(filepath.Join(d, "a"), 0o4755) },
		"owner":          func(d string) error { return os.Lchown(filepath.Join(d, "a"), 1, 1) },
		"link target":    func(d string) error { return replaceLink(filepath.Join(d, "link"), "/etc") },
		"file added":     func(d string) error { return os.WriteFile(filepath.Join(d, "marker"), nil, 0o644) },
		"file truncated": func(d string) error { return os.Truncate(filepath.Join(d, "a"), 0) },
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			if name == "owner" && os.Geteuid() != 0 {
				t.Skip("changing an owner needs root") // the other changes still prove the check
			}
			dir := newSentinel(t, os.Getuid(), os.Getgid())
			before := treeOf(t, dir)
			if again := treeOf(t, dir); again != before {
				t.Fatalf("listing an unchanged tree twice differs:\n%s\n%s", before, again)
			}
			if err := change(dir); err != nil {
				t.Fatal(err)
			}
			if after := treeOf(t, dir); after == before {
				t.Errorf("the host check does not see %s:\n%s", name, after)
			}
		})
	}
}

func replaceLink(p, target string) error {
	if err := os.Remove(p); err != nil {
		return err
	}
	return os.Symlink(target, p)
}

// TestCorpusRootless builds the whole corpus as an ordinary user created
// by the test (skiff's auto picks rootless isolation for it).
func TestCorpusRootless(t *testing.T) {
	testenv.Require(t) // the sandbox first: under -short no user is created
	u := testenv.NewUser(t, true)
	Run(t, Mode{Name: "rootless", UID: u.UID, GID: u.GID,
		Build: SkiffBuild(Invocation{User: u, CacheDir: u.Dir(t, "cache")})})
}

// TestCorpusContainer builds the whole corpus with skiff inside a fresh
// unprivileged container of the ctrtest harness per case (containerd's
// default capabilities and seccomp profile): skiff detects container
// isolation itself. Besides the host's sentinel tree, each build must
// leave skiff's binary, the workspace and the runtime's mounts alone.
func TestCorpusContainer(t *testing.T) {
	testenv.RequireRoot(t, "the harness creates namespaces and mounts")
	Run(t, Mode{Name: "container", Build: ContainerBuild()})
}

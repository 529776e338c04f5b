package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Keys of .testenv/env that this package reads.
const (
	KeyKubeconfig      = "SKIFF_TEST_KUBECONFIG"
	KeyRegistry        = "SKIFF_TEST_REGISTRY"
	KeyBaseImage       = "SKIFF_TEST_BASE_IMAGE"
	KeyBaseImageDigest = "SKIFF_TEST_BASE_IMAGE_DIGEST"
	KeyCluster         = "SKIFF_TEST_CLUSTER"
	KeyKwokWorkdir     = "SKIFF_TEST_KWOK_WORKDIR"
	KeyBin             = "SKIFF_TEST_BIN"
	KeyStages          = "SKIFF_TEST_STAGES"
	KeyRoot            = "SKIFF_TESTENV_ROOT"
)

// modulePath identifies the repository root: the directory whose go.mod
// declares it (hack/tools has a go.mod of its own with another path).
const modulePath = "github.com/skiff-dev/skiff"

// EnvFile is the path of the sandbox description relative to the repository root.
const EnvFile = ".testenv/env"

// ErrNotStarted means the sandbox description is missing or incomplete:
// hack/testenv up has not run in this checkout (or down has run since).
var ErrNotStarted = errors.New("sandbox not started")

// Load reads the sandbox description of the repository that contains the
// working directory. Environment variables override the file's values, and
// SKIFF_TESTENV_ROOT in the environment names the repository root directly.
// Only non-empty SKIFF_TEST* variables override: KUBECONFIG never does.
// Load does not contact the servers; Require does.
func Load() (*Env, error) {
	root := os.Getenv(KeyRoot)
	if root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		if root, err = findRoot(wd); err != nil {
			return nil, err
		}
	}
	path := filepath.Join(root, EnvFile)
	vars := map[string]string{}
	missing := fmt.Sprintf("%s has no", path)
	f, err := os.Open(path)
	switch {
	case err == nil:
		vars, err = parseEnv(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	case errors.Is(err, os.ErrNotExist):
		missing = fmt.Sprintf("%s does not exist and the environment has no", path)
	default:
		return nil, err
	}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "SKIFF_TEST") && v != "" {
			vars[k] = v
		}
	}
	for _, k := range []string{KeyKubeconfig, KeyRegistry, KeyBaseImage} {
		if vars[k] == "" {
			return nil, fmt.Errorf("%w: %s %s", ErrNotStarted, missing, k)
		}
	}
	return &Env{root: root, vars: vars}, nil
}

// findRoot walks up from dir to the directory whose go.mod declares modulePath.
func findRoot(dir string) (string, error) {
	for d := dir; ; {
		if data, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && declaresModule(data, modulePath) {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod of module %s in %s or above", modulePath, dir)
		}
		d = parent
	}
}

func declaresModule(gomod []byte, path string) bool {
	for line := range strings.Lines(string(gomod)) {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`) == path
		}
	}
	return false
}

var keyPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// parseEnv reads KEY=VALUE lines as a shell would for the simple files
// hack/testenv writes: blank lines and # comments are skipped, an "export "
// prefix is allowed, and a value may be wrapped in single or double quotes.
func parseEnv(r io.Reader) (map[string]string, error) {
	vars := map[string]string{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimSpace(strings.TrimPrefix(line, "export "))
		k, v, ok := strings.Cut(line, "=")
		if !ok || !keyPattern.MatchString(k) {
			return nil, fmt.Errorf("line %d: want KEY=VALUE, got %q", n, sc.Text())
		}
		v, err := unquote(v)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		vars[k] = v
	}
	return vars, sc.Err()
}

func unquote(v string) (string, error) {
	if v == "" || (v[0] != '"' && v[0] != '\'') {
		return v, nil
	}
	q := v[0]
	if len(v) < 2 || v[len(v)-1] != q {
		return "", fmt.Errorf("unterminated quote in %s", v)
	}
	v = v[1 : len(v)-1]
	if q == '\'' {
		return v, nil
	}
	// Inside double quotes a shell keeps backslashes except before these.
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) && strings.IndexByte("\"\\$`", v[i+1]) >= 0 {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String(), nil
}

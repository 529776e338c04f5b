package imagetest

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/skiff-dev/skiff/internal/build/sandbox"
	"github.com/skiff-dev/skiff/internal/oci"
	"github.com/skiff-dev/skiff/internal/testenv"
)

func TestMain(m *testing.M) {
	sandbox.Init()
	os.Exit(m.Run())
}

func TestParseSuiteErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"schemaVersion: 2.0.0\nfileExistenceTest: []\n", "t.yaml:2: field fileExistenceTest not found"},
		{"schemaVersion: 1.0.0\n", `schemaVersion "1.0.0"`},
		{"schemaVersion: 2.0.0\ncommandTests:\n- name: x\n  command: ls\n  expectedOutput: ['(']\n", "invalid regular expression"},
		{"schemaVersion: 2.0.0\nlicenseTests:\n- debian: true\n", "licenseTests are not supported"},
		{"schemaVersion: 2.0.0\nfileExistenceTests:\n- name: x\n", "name and path are required"},
	}
	for _, tt := range tests {
		_, err := ParseSuite([]byte(tt.in), "t.yaml")
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseSuite(%q) = %v, want one line with %q", tt.in, err, tt.want)
		}
	}
}

const suiteYAML = `schemaVersion: 2.0.0
globalEnvVars:
- {key: GREETING, value: hello}
fileExistenceTests:
- {name: shell, path: /bin/sh, shouldExist: true, isExecutableBy: any}
- {name: app, path: /app/run.sh, permissions: "-rwxr-xr-x", uid: 0, gid: 0}
- {name: no secrets, path: /app/secret.txt, shouldExist: false}
- {name: wrong mode, path: /app/config.txt, permissions: "-rwxrwxrwx"}
fileContentTests:
- {name: config, path: /app/config.txt, expectedContents: ['^mode=prod'], excludedContents: ['debug']}
metadataTest:
  envVars: [{key: APP_ENV, value: production}, {key: PATH, value: '/bin', isRegex: true}]
  labels: [{key: org.example.team, value: payments}]
  exposedPorts: ["8080"]
  workdir: /app
  cmd: ["./run.sh"]
commandTests:
- name: writes a file
  command: sh
  args: ["-c", "echo $GREETING > /app/written && cat /app/written && pwd"]
  expectedOutput: ["hello", "^hello\n/app\n$"]
- name: sees a clean filesystem
  command: sh
  args: ["-c", "test ! -e /app/written"]
- name: fails as expected
  command: sh
  args: ["-c", "echo oops >&2; exit 3"]
  exitCode: 3
  expectedError: ["oops"]
- name: wrong output
  command: echo
  args: ["bye"]
  expectedOutput: ["hello"]
`

func TestStructureAgainstARealImage(t *testing.T) {
	e := testenv.Require(t)
	ctx := context.Background()
	client := oci.New(oci.Options{})
	ref, err := client.ParseReference(e.BaseImage())
	if err != nil {
		t.Fatal(err)
	}
	base, err := client.Image(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	layer, err := tarball.LayerFromOpener(tarOpener(t, map[string]tarFile{
		"app/":           {mode: 0o755, dir: true},
		"app/run.sh":     {mode: 0o755, body: "#!/bin/sh\necho run\n"},
		"app/config.txt": {mode: 0o644, body: "mode=prod\n"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := img.ConfigFile()
	cfg.Config.Env = append(cfg.Config.Env, "APP_ENV=production")
	cfg.Config.Labels = map[string]string{"org.example.team": "payments"}
	cfg.Config.ExposedPorts = map[string]struct{}{"8080/tcp": {}}
	cfg.Config.WorkingDir = "/app"
	cfg.Config.Cmd = []string{"./run.sh"}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	suite, err := ParseSuite([]byte(suiteYAML), "structure.yaml")
	if err != nil {
		t.Fatal(err)
	}
	results, err := Structure(ctx, "test-image", img, map[string]*Suite{"structure.yaml": suite}, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	wantFail := map[string]string{"wrong mode": "has permissions -rw-r--r--, want -rwxrwxrwx", "wrong output": `stdout does not match "hello"`}
	if len(results) != 10 {
		t.Errorf("%d results, want 10", len(results))
	}
	for _, r := range results {
		if msg, fail := wantFail[r.Name]; fail {
			if r.Passed || !strings.Contains(r.Message, msg) {
				t.Errorf("%s: passed=%v message=%q, want failure %q", r.Name, r.Passed, r.Message, msg)
			}
			continue
		}
		if !r.Passed {
			t.Errorf("%s (%s): %s", r.Name, r.Kind, r.Message)
		}
	}
}

func TestCustom(t *testing.T) {
	var out bytes.Buffer
	r := Custom(context.Background(), "registry/app@sha256:abc", `test "$IMAGE" = registry/app@sha256:abc && echo ok`, t.TempDir(), 0, &out)
	if !r.Passed || out.String() != "ok\n" {
		t.Errorf("custom test: %+v, output %q", r, out.String())
	}
	r = Custom(context.Background(), "x", "exit 4", t.TempDir(), 0, &out)
	if r.Passed || r.Message != "exit code 4" {
		t.Errorf("failing custom test: %+v", r)
	}
	r = Custom(context.Background(), "x", "sleep 5", t.TempDir(), 100_000_000, &out)
	if r.Passed || !strings.Contains(r.Message, "timed out") {
		t.Errorf("timed-out custom test: %+v", r)
	}
}

type tarFile struct {
	mode int64
	body string
	dir  bool
}

func tarOpener(t *testing.T, files map[string]tarFile) tarball.Opener {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range []string{"app/", "app/run.sh", "app/config.txt"} {
		f := files[name]
		hdr := &tar.Header{Name: name, Mode: f.mode, Size: int64(len(f.body)), Typeflag: tar.TypeReg}
		if f.dir {
			hdr.Typeflag, hdr.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if !f.dir {
			if _, err := tw.Write([]byte(f.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
}

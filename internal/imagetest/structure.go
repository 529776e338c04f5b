package imagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/skiff-dev/skiff/internal/build/sandbox"
)

// Result is the outcome of one test.
type Result struct {
	Image    string
	Suite    string // file of a structure test, or "custom"
	Kind     string // command, fileExistence, fileContent, metadata, custom
	Name     string
	Passed   bool
	Message  string // why it failed
	Duration time.Duration
}

// Runner runs one command test's process confined in spec.Root, as the
// builder runs RUN (sandbox.Run for root and rootless isolation); a
// process that ran and failed returns *sandbox.ExitError.
type Runner func(ctx context.Context, spec sandbox.Spec) error

// Structure runs structure test suites against img. scratch is a directory
// the image's filesystem is unpacked into (and removed after); run runs
// the commandTests (nil: sandbox.Run).
func Structure(ctx context.Context, image string, img v1.Image, suites map[string]*Suite, scratch string, run Runner) ([]Result, error) {
	if run == nil {
		run = sandbox.Run
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the config of %s: %w", image, err)
	}
	root, err := unpack(ctx, image, img, scratch)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(root)
	names := make([]string, 0, len(suites))
	for n := range suites {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []Result
	for _, name := range names {
		s := suites[name]
		add := func(kind, test string, start time.Time, err error) {
			r := Result{Image: image, Suite: name, Kind: kind, Name: test, Passed: err == nil, Duration: time.Since(start)}
			if err != nil {
				r.Message = err.Error()
			}
			out = append(out, r)
		}
		for _, t := range s.FileExistenceTests {
			start := time.Now()
			add("fileExistence", t.Name, start, fileExistence(root, t))
		}
		for _, t := range s.FileContentTests {
			start := time.Now()
			add("fileContent", t.Name, start, fileContent(root, t))
		}
		if s.MetadataTest != nil {
			start := time.Now()
			add("metadata", "metadata", start, metadata(&cfg.Config, *s.MetadataTest))
		}
		for _, t := range s.CommandTests {
			start := time.Now()
			add("command", t.Name, start, command(ctx, run, root, scratch, &cfg.Config, s.GlobalEnvVars, t))
		}
	}
	return out, nil
}

func fileExistence(root string, t FileExistenceTest) error {
	should := t.ShouldExist == nil || *t.ShouldExist
	p, err := securejoin.SecureJoin(root, t.Path)
	if err != nil {
		return err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		if should {
			return fmt.Errorf("%s does not exist", t.Path)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if !should {
		return fmt.Errorf("%s exists but should not", t.Path)
	}
	if t.Permissions != "" && fi.Mode().String() != t.Permissions {
		return fmt.Errorf("%s has permissions %s, want %s", t.Path, fi.Mode(), t.Permissions)
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	if st != nil && t.UID != nil && int(st.Uid) != *t.UID {
		return fmt.Errorf("%s is owned by uid %d, want %d", t.Path, st.Uid, *t.UID)
	}
	if st != nil && t.GID != nil && int(st.Gid) != *t.GID {
		return fmt.Errorf("%s has gid %d, want %d", t.Path, st.Gid, *t.GID)
	}
	bits := map[string]os.FileMode{"owner": 0o100, "group": 0o010, "other": 0o001, "any": 0o111}[t.IsExecutableBy]
	if bits != 0 && fi.Mode().Perm()&bits == 0 {
		return fmt.Errorf("%s (%s) is not executable by %s", t.Path, fi.Mode(), t.IsExecutableBy)
	}
	return nil
}

func fileContent(root string, t FileContentTest) error {
	p, err := securejoin.SecureJoin(root, t.Path)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("reading %s: %w", t.Path, unwrapPath(err))
	}
	return matchAll(string(data), t.ExpectedContents, t.ExcludedContents, t.Path)
}

// matchAll checks that text matches every expected regexp and no excluded one.
func matchAll(text string, expected, excluded []string, what string) error {
	for _, e := range expected {
		if !regexp.MustCompile(e).MatchString(text) {
			return fmt.Errorf("%s does not match %q", what, e)
		}
	}
	for _, e := range excluded {
		if regexp.MustCompile(e).MatchString(text) {
			return fmt.Errorf("%s matches excluded %q", what, e)
		}
	}
	return nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func metadata(c *v1.Config, t MetadataTest) error {
	env := map[string]string{}
	for _, kv := range c.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	if err := checkPairs("environment variable", env, t.EnvVars); err != nil {
		return err
	}
	if err := checkPairs("label", c.Labels, t.Labels); err != nil {
		return err
	}
	hasPort := func(p string) bool {
		_, a := c.ExposedPorts[p]
		_, b := c.ExposedPorts[p+"/tcp"]
		return a || b
	}
	for _, p := range t.ExposedPorts {
		if !hasPort(p) {
			return fmt.Errorf("port %s is not exposed", p)
		}
	}
	for _, p := range t.UnexposedPorts {
		if hasPort(p) {
			return fmt.Errorf("port %s is exposed", p)
		}
	}
	for _, v := range t.Volumes {
		if _, ok := c.Volumes[v]; !ok {
			return fmt.Errorf("volume %s is not declared", v)
		}
	}
	for _, v := range t.UnmountedVolumes {
		if _, ok := c.Volumes[v]; ok {
			return fmt.Errorf("volume %s is declared", v)
		}
	}
	if t.Entrypoint != nil && !slices.Equal(*t.Entrypoint, c.Entrypoint) {
		return fmt.Errorf("entrypoint is %q, want %q", c.Entrypoint, *t.Entrypoint)
	}
	if t.Cmd != nil && !slices.Equal(*t.Cmd, c.Cmd) {
		return fmt.Errorf("cmd is %q, want %q", c.Cmd, *t.Cmd)
	}
	if t.Workdir != "" && t.Workdir != c.WorkingDir {
		return fmt.Errorf("workdir is %q, want %q", c.WorkingDir, t.Workdir)
	}
	if t.User != "" && t.User != c.User {
		return fmt.Errorf("user is %q, want %q", c.User, t.User)
	}
	return nil
}

func checkPairs(what string, have map[string]string, want []EnvVar) error {
	for _, w := range want {
		v, ok := have[w.Key]
		if !ok {
			return fmt.Errorf("%s %s is not set", what, w.Key)
		}
		if w.IsRegex {
			re, err := regexp.Compile(w.Value)
			if err != nil {
				return fmt.Errorf("%s %s: invalid regular expression %q: %v", what, w.Key, w.Value, err)
			}
			if !re.MatchString(v) {
				return fmt.Errorf("%s %s=%q does not match %q", what, w.Key, v, w.Value)
			}
		} else if v != w.Value {
			return fmt.Errorf("%s %s=%q, want %q", what, w.Key, v, w.Value)
		}
	}
	return nil
}

// command runs one command test (with its setup and teardown) in a
// writable overlay of the unpacked image, so tests never see each other's
// changes, isolated by the builder's RUN sandbox.
func command(ctx context.Context, run Runner, root, scratch string, c *v1.Config, global []EnvVar, t CommandTest) error {
	merged, cleanup, err := overlay(root, scratch)
	if err != nil {
		return err
	}
	defer cleanup()
	env := append([]string{}, c.Env...)
	for _, e := range append(append([]EnvVar{}, global...), t.EnvVars...) {
		env = append(env, e.Key+"="+os.Expand(e.Value, func(k string) string { return lookup(env, k) }))
	}
	user, err := sandbox.ResolveUser(merged, c.User)
	if err != nil {
		return fmt.Errorf("user %q: %w", c.User, err)
	}
	dir := c.WorkingDir
	if dir == "" {
		dir = "/"
	}
	runOne := func(args []string) (string, string, int, error) {
		var stdout, stderr bytes.Buffer
		err := run(ctx, sandbox.Spec{Root: merged, Args: args, Env: env, Dir: dir, User: user, Stdout: &stdout, Stderr: &stderr})
		var exit *sandbox.ExitError
		if errors.As(err, &exit) {
			return stdout.String(), stderr.String(), exit.Code, nil
		}
		return stdout.String(), stderr.String(), 0, err
	}
	for _, s := range t.Setup {
		if _, stderr, code, err := runOne(s); err != nil || code != 0 {
			return fmt.Errorf("setup %q failed (exit %d): %v %s", s, code, err, strings.TrimSpace(stderr))
		}
	}
	stdout, stderr, code, err := runOne(append([]string{t.Command}, t.Args...))
	for _, s := range t.Teardown {
		_, _, _, _ = runOne(s)
	}
	if err != nil {
		return fmt.Errorf("running %s: %w", t.Command, err)
	}
	if code != t.ExitCode {
		return fmt.Errorf("exit code %d, want %d; stderr: %s", code, t.ExitCode, oneLine(stderr))
	}
	if err := matchAll(stdout, t.ExpectedOutput, t.ExcludedOutput, "stdout"); err != nil {
		return fmt.Errorf("%w (stdout: %s)", err, oneLine(stdout))
	}
	if err := matchAll(stderr, t.ExpectedError, t.ExcludedError, "stderr"); err != nil {
		return fmt.Errorf("%w (stderr: %s)", err, oneLine(stderr))
	}
	return nil
}

func lookup(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// overlay mounts a writable overlay over the read-only lower directory and
// returns the merged directory.
func overlay(lower, scratch string) (string, func(), error) {
	dir, err := os.MkdirTemp(scratch, "overlay-")
	if err != nil {
		return "", nil, err
	}
	upper, work, merged := filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "merged")
	for _, d := range []string{upper, work, merged} {
		if err := os.Mkdir(d, 0o755); err != nil {
			os.RemoveAll(dir)
			return "", nil, err
		}
	}
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
	err = syscall.Mount("overlay", merged, "overlay", 0, opts)
	if err != nil {
		// In skiff's user namespace (rootless isolation) overlayfs keeps
		// its metadata in user xattrs.
		err = syscall.Mount("overlay", merged, "overlay", 0, opts+",userxattr")
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("mounting an overlay for the command test (needs root and overlayfs): %w", err)
	}
	return merged, func() {
		_ = syscall.Unmount(merged, syscall.MNT_DETACH)
		os.RemoveAll(dir)
	}, nil
}

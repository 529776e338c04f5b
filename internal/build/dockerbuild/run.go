package dockerbuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/skiff-dev/skiff/internal/build/cache"
	"github.com/skiff-dev/skiff/internal/build/dockerfile"
	"github.com/skiff-dev/skiff/internal/build/sandbox"
	"github.com/skiff-dev/skiff/internal/build/snapshot"
	"github.com/skiff-dev/skiff/internal/oci"
)

// proxyArgs are passed to RUN from --build-arg without an ARG, and are
// not part of the cache key, as in Docker.
var proxyArgs = []string{"HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY",
	"http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "all_proxy"}

// heredocScript is a RUN heredoc that starts with #!: it runs as a
// program mounted at /dev/pipes/<name>, as BuildKit does.
type heredocScript struct {
	name, data string
}

// runArgs is the argv of a RUN, heredocs included.
func runArgs(s *stageState, c *instructions.RunCommand) ([]string, *heredocScript, error) {
	args := c.CmdLine
	if len(c.Files) > 0 {
		if len(args) != 1 || !c.PrependShell {
			return nil, nil, errors.New("invalid heredoc RUN")
		}
		if heredoc := parser.MustParseHeredoc(args[0]); heredoc != nil && len(c.Files) == 1 {
			data := c.Files[0].Data
			if c.Files[0].Chomp {
				data = parser.ChompHeredocContent(data)
			}
			if strings.HasPrefix(data, "#!") {
				script := &heredocScript{name: path.Base("/" + c.Files[0].Name), data: data}
				return []string{"/dev/pipes/" + script.name}, script, nil
			}
			args = []string{data}
		} else {
			var sb strings.Builder
			sb.WriteString(args[0])
			for _, f := range c.Files {
				sb.WriteString("\n" + f.Data + f.Name)
			}
			args = []string{sb.String()}
		}
	}
	return withShell(s.cf.Config.Shell, instructions.ShellDependantCmdLine{CmdLine: args, PrependShell: c.PrependShell}), nil, nil
}

func (b *builder) run(ctx context.Context, s *stageState, c *instructions.RunCommand) error {
	args, script, err := runArgs(s, c)
	if err != nil {
		return err
	}
	if sec := instructions.GetSecurity(c); sec != "" && sec != "sandbox" {
		return fmt.Errorf("RUN --security=%s is not supported", sec)
	}
	network := instructions.GetNetwork(c)
	netMode, err := b.runNetwork(network)
	if err != nil {
		return err
	}
	env := s.runEnv
	if _, ok := env.Get("PATH"); !ok {
		env = env.With("PATH", defaultPath)
	}
	cfg := s.cf.Config
	wd := cfg.WorkingDir
	if wd == "" {
		wd = "/"
	}
	mounts := instructions.GetMounts(c)
	mountKeys, err := b.mountKeys(ctx, mounts)
	if err != nil {
		return err
	}
	key := cache.NewKey("RUN").Key("parent", s.key).Strings("args", args).Strings("env", env.List()).
		String("user", cfg.User).String("workdir", wd).Strings("mounts", mountKeys).String("network", network).Sum()
	if script != nil {
		key = cache.NewKey("RUN heredoc").Key("run", key).String("script", script.data).Sum()
	}
	runEnv := env
	for _, k := range proxyArgs {
		if v, ok := b.plan.BuildArgs[k]; ok {
			if _, set := runEnv.Get(k); !set {
				runEnv = runEnv.With(k, v)
			}
		}
	}
	createdBy := "RUN " + strings.Join(args, " ")
	return b.layerStep(ctx, s, c, key, createdBy, func(w io.Writer) (snapshot.Diff, bool, error) {
		snap, err := b.snapshotter(s)
		if err != nil {
			return snapshot.Diff{}, false, err
		}
		out := &lineWriter{emit: func(line string) {
			b.emit(Event{Kind: StepOutput, Stage: s.name, Step: s.step, Steps: s.steps, Line: dockerfile.Line(c), Text: line})
		}}
		diff, err := snap.Change(ctx, func(root string) error {
			user, err := sandbox.ResolveUser(root, cfg.User)
			if err != nil {
				return fmt.Errorf("USER %s: %w", cfg.User, err)
			}
			return b.withMounts(ctx, mounts, root, func(sm []sandbox.Mount, extraEnv []string) error {
				if script != nil {
					f, err := writeScript(b.opts.Store, script)
					if err != nil {
						return err
					}
					defer os.RemoveAll(filepath.Dir(f))
					sm = append(sm, sandbox.Mount{Type: "bind", Source: f, Target: "/dev/pipes/" + script.name, ReadOnly: true})
				}
				spec := sandbox.Spec{Root: root, Args: args, Env: append(runEnv.List(), extraEnv...), Dir: wd, User: user,
					Mounts: sm, Stdout: out, Stderr: out, Network: netMode, AllowDevices: b.opts.Allow.DeviceNodes}
				return b.iso.run(ctx, spec)
			})
		}, w)
		out.flush()
		if err != nil {
			var ee *sandbox.ExitError
			if errors.As(err, &ee) {
				return diff, false, &StepError{File: b.plan.File, Line: dockerfile.Line(c), Instruction: instructionText(c),
					Err: fmt.Errorf("the command failed with %w", err), Output: out.tail()}
			}
			return diff, false, err
		}
		return diff, true, nil
	})
}

// runNetwork is the sandbox network of a RUN with --network=flag (empty
// when not given: the build's default, Options.Network). Sharing the
// host's network is an entitlement the user must grant.
func (b *builder) runNetwork(flag string) (sandbox.Network, error) {
	mode, what := flag, "RUN --network="+flag
	if mode == "" || mode == instructions.NetworkDefault {
		mode, what = b.opts.Network, "network: "+b.opts.Network
	}
	switch mode {
	case "", instructions.NetworkDefault, "bridge":
		b.warnNoStack()
		return sandbox.NetworkSandbox, nil
	case instructions.NetworkNone:
		return sandbox.NetworkNone, nil
	case instructions.NetworkHost:
		if !b.opts.Allow.NetworkHost {
			return "", &EntitlementError{Entitlement: "network.host", What: what}
		}
		return sandbox.NetworkHost, nil
	}
	return "", fmt.Errorf("%s is not supported (use default, none, or host with --allow network.host)", what)
}

// warnNoStack warns once per build when RUN gets no outbound network.
func (b *builder) warnNoStack() {
	b.stackOnce.Do(func() {
		if _, err := sandbox.UserModeStack(); err != nil {
			b.emit(Event{Kind: Warning, Text: err.Error()})
		}
	})
}

// EntitlementError is a step that needs an entitlement the user did not
// grant.
type EntitlementError struct {
	// Entitlement is the --allow value, such as "network.host".
	Entitlement string
	// What asked for it.
	What string
}

func (e *EntitlementError) Error() string {
	return fmt.Sprintf("%s needs --allow %s (it would share the host's network, its loopback services included)", e.What, e.Entitlement)
}

func writeScript(store interface{ TempDir(string) (string, error) }, script *heredocScript) (string, error) {
	dir, err := store.TempDir("heredoc")
	if err != nil {
		return "", err
	}
	f := filepath.Join(dir, script.name)
	if err := os.WriteFile(f, []byte(script.data), 0o755); err != nil {
		return "", err
	}
	return f, os.Chmod(f, 0o755)
}

// mountKeys describes RUN mounts for the cache key: what they expose, not
// secret contents or cache directory contents (as in BuildKit).
func (b *builder) mountKeys(ctx context.Context, mounts []*instructions.Mount) ([]string, error) {
	var out []string
	for _, m := range mounts {
		k := []string{string(m.Type), m.Target, m.Source, m.CacheID, strconv.FormatBool(m.ReadOnly)}
		switch m.Type {
		case instructions.MountTypeBind:
			if m.From != "" {
				src, err := b.fromSource(ctx, m.From)
				if err != nil {
					return nil, err
				}
				ids, err := src.diffIDs()
				if err != nil {
					return nil, err
				}
				k = append(k, ids...)
			} else {
				it, err := b.ctxSrc.collect(strings.TrimLeft(path.Clean("/"+m.Source), "/"))
				if err != nil {
					return nil, fmt.Errorf("--mount source %s: %w", m.Source, err)
				}
				sum, err := b.itemsKey([]item{it})
				if err != nil {
					return nil, err
				}
				k = append(k, sum)
			}
		case instructions.MountTypeSSH:
			return nil, errors.New("RUN --mount=type=ssh is not supported")
		}
		out = append(out, strings.Join(k, "\x00"))
	}
	return out, nil
}

// cacheMountDir is the directory of a RUN --mount=type=cache id.
func (b *builder) cacheMountDir(id string) string {
	return filepath.Join(b.opts.CacheMountDir, fmt.Sprintf("%x", sha256.Sum256([]byte(id)))[:20])
}

// withMounts prepares RUN --mount mounts (viewing other stages as needed)
// and calls fn with them.
func (b *builder) withMounts(ctx context.Context, mounts []*instructions.Mount, root string, fn func([]sandbox.Mount, []string) error) error {
	var sm []sandbox.Mount
	var env []string
	tmp, err := b.opts.Store.TempDir("mounts")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var views []*instructions.Mount
	// Stages build concurrently: one RUN at a time uses a cache with
	// sharing=locked (locks taken in one order, so two RUNs never wait for
	// each other).
	var locked []string
	for _, m := range mounts {
		if m.Type == instructions.MountTypeCache && m.CacheSharing == instructions.MountSharingLocked {
			id := m.CacheID
			if id == "" {
				id = m.Target
				if id != "" && !path.IsAbs(id) {
					id = "/" + id
				}
			}
			locked = append(locked, b.cacheMountDir(id))
		}
	}
	sort.Strings(locked)
	for i, dir := range locked {
		if i > 0 && dir == locked[i-1] {
			continue
		}
		lock := b.cacheLock(dir)
		lock.Lock()
		defer lock.Unlock()
	}
	for i, m := range mounts {
		target := m.Target
		if target != "" && !path.IsAbs(target) {
			target = "/" + target
		}
		switch m.Type {
		case instructions.MountTypeCache:
			if m.From != "" {
				return errors.New("RUN --mount=type=cache,from= is not supported")
			}
			id := m.CacheID
			if id == "" {
				id = target
			}
			dir := b.cacheMountDir(id)
			if err := ensureCacheDir(dir, m); err != nil {
				return err
			}
			sm = append(sm, sandbox.Mount{Type: "bind", Source: dir, Target: target})
		case instructions.MountTypeTmpfs:
			sm = append(sm, sandbox.Mount{Type: "tmpfs", Target: target})
		case instructions.MountTypeSecret:
			if err := validSecretID(m.CacheID); err != nil {
				return err
			}
			src, ok := b.opts.Secrets[m.CacheID]
			if !ok {
				if m.Required {
					return fmt.Errorf("secret %q is required: pass --secret id=%s,src=FILE", m.CacheID, m.CacheID)
				}
				continue
			}
			data, err := os.ReadFile(src)
			if err != nil {
				return fmt.Errorf("secret %q: %w", m.CacheID, err)
			}
			if m.Env != nil {
				name := *m.Env
				if name == "" {
					name = m.CacheID
				}
				env = append(env, name+"="+string(data))
				if m.Target == "" {
					continue
				}
			}
			if target == "" {
				target = "/run/secrets/" + m.CacheID
			}
			f := filepath.Join(tmp, fmt.Sprintf("secret-%d", i))
			if err := writeOwned(f, data, m); err != nil {
				return err
			}
			sm = append(sm, sandbox.Mount{Type: "bind", Source: f, Target: target, ReadOnly: true})
		case instructions.MountTypeBind:
			if m.From != "" {
				views = append(views, m)
				continue
			}
			it, err := b.ctxSrc.collect(strings.TrimLeft(path.Clean("/"+m.Source), "/"))
			if err != nil {
				return err
			}
			dst := filepath.Join(tmp, fmt.Sprintf("bind-%d", i))
			cp := &copier{root: dst, resetOwner: true, links: map[[2]uint64]string{}}
			if err := os.Mkdir(dst, 0o755); err != nil {
				return err
			}
			if err := cp.copyItem(it, "/", true); err != nil {
				return err
			}
			src := dst
			if !it.isDir {
				src = filepath.Join(dst, path.Base("/"+it.name))
			}
			sm = append(sm, sandbox.Mount{Type: "bind", Source: src, Target: target, ReadOnly: m.ReadOnly})
		}
	}
	return b.withViews(ctx, views, sm, env, map[*stageState]bool{}, fn)
}

// withViews mounts the stages that bind mounts read from, one inside the
// other, then calls fn. held are the sources whose lock (sourceLock) an
// outer view holds.
func (b *builder) withViews(ctx context.Context, views []*instructions.Mount, sm []sandbox.Mount, env []string, held map[*stageState]bool, fn func([]sandbox.Mount, []string) error) error {
	if len(views) == 0 {
		return fn(sm, env)
	}
	m := views[0]
	src, err := b.fromSource(ctx, m.From)
	if err != nil {
		return err
	}
	if !held[src] {
		lock := b.sourceLock(src)
		lock.Lock()
		defer lock.Unlock()
		held[src] = true
	}
	snap, err := b.snapshotter(src)
	if err != nil {
		return err
	}
	return snap.View(ctx, func(root string) error {
		p, err := securejoin.SecureJoin(root, m.Source)
		if err != nil {
			return err
		}
		target := m.Target
		if !path.IsAbs(target) {
			target = "/" + target
		}
		return b.withViews(ctx, views[1:], append(sm, sandbox.Mount{Type: "bind", Source: p, Target: target, ReadOnly: true}), env, held, fn)
	})
}

// mountOwner is the owner a RUN --mount asks for (root by default),
// refusing ids no file can have.
func mountOwner(m *instructions.Mount) (int, int, error) {
	uid, gid := 0, 0
	for _, id := range []struct {
		v   *uint64
		to  *int
		opt string
	}{{m.UID, &uid, "uid"}, {m.GID, &gid, "gid"}} {
		if id.v == nil {
			continue
		}
		n, err := sandbox.ParseID(strconv.FormatUint(*id.v, 10))
		if err != nil {
			return 0, 0, fmt.Errorf("--mount %s=%d: %w", id.opt, *id.v, err)
		}
		*id.to = int(n)
	}
	return uid, gid, nil
}

// validSecretID is a secret id that is safe as a file name: Docker's rule
// (letters, digits, '.', '_', '-'), never "." or "..".
func validSecretID(id string) error {
	if id == "" || id == "." || id == ".." || len(id) > 255 {
		return fmt.Errorf("invalid secret id %q", id)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("invalid secret id %q: use letters, digits, '.', '_' and '-'", id)
		}
	}
	return nil
}

func ensureCacheDir(dir string, m *instructions.Mount) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	mode := os.FileMode(0o755)
	if m.Mode != nil {
		mode = os.FileMode(*m.Mode)
	}
	uid, gid, err := mountOwner(m)
	if err != nil {
		return err
	}
	if err := oci.Lchown(dir, uid, gid); err != nil {
		return err
	}
	return os.Chmod(dir, mode)
}

func writeOwned(f string, data []byte, m *instructions.Mount) error {
	mode := os.FileMode(0o400)
	if m.Mode != nil {
		mode = os.FileMode(*m.Mode)
	}
	uid, gid, err := mountOwner(m)
	if err != nil {
		return err
	}
	if err := os.WriteFile(f, data, mode); err != nil {
		return err
	}
	if err := oci.Lchown(f, uid, gid); err != nil {
		return err
	}
	return os.Chmod(f, mode)
}

// workdir sets the working directory and creates it, owned by the stage's
// user, when it does not exist (as BuildKit does).
func (b *builder) workdir(ctx context.Context, s *stageState, c *instructions.WorkdirCommand) error {
	wd := workdirPath(s.cf.Config.WorkingDir, c.Path)
	s.cf.Config.WorkingDir = wd
	if wd == "/" {
		b.configStep(s, c, "WORKDIR /")
		return nil
	}
	user := s.cf.Config.User
	key := cache.NewKey("WORKDIR").Key("parent", s.key).String("dir", wd).String("user", user).Sum()
	return b.layerStep(ctx, s, c, key, "WORKDIR "+wd, func(w io.Writer) (snapshot.Diff, bool, error) {
		snap, err := b.snapshotter(s)
		if err != nil {
			return snapshot.Diff{}, false, err
		}
		diff, err := snap.Change(ctx, func(root string) error {
			owner := [2]int{0, 0}
			if user != "" {
				u, err := sandbox.ResolveUser(root, user)
				if err != nil {
					return fmt.Errorf("USER %s: %w", user, err)
				}
				owner = [2]int{int(u.UID), int(u.GID)}
			}
			cp := &copier{root: root, chown: &owner}
			_, err := cp.mkdirAll(wd)
			return err
		}, w)
		return diff, true, err
	})
}

// lineWriter splits a command's output into lines for events and keeps the
// last ones for error messages.
type lineWriter struct {
	emit  func(string)
	mu    sync.Mutex
	buf   bytes.Buffer
	lines []string
}

const tailLines = 20

// maxLine bounds the output kept while waiting for a newline: a command
// that prints without newlines (RUN head -c 20G /dev/zero) is reported in
// pieces of this size instead of growing skiff's memory without limit.
const maxLine = 64 << 10

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		chunk := p[:min(len(p), maxLine)]
		p = p[len(chunk):]
		w.buf.Write(chunk)
		for {
			i := bytes.IndexByte(w.buf.Bytes(), '\n')
			if i < 0 {
				break
			}
			line := string(w.buf.Next(i + 1))
			w.line(strings.TrimRight(line, "\r\n"))
		}
		if w.buf.Len() >= maxLine {
			w.line(string(w.buf.Next(maxLine)))
		}
	}
	return n, nil
}

func (w *lineWriter) line(l string) {
	w.lines = append(w.lines, l)
	if len(w.lines) > tailLines {
		w.lines = w.lines[1:]
	}
	w.emit(l)
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len() > 0 {
		w.line(w.buf.String())
		w.buf.Reset()
	}
}

func (w *lineWriter) tail() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.lines...)
}

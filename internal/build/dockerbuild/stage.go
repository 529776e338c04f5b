package dockerbuild

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"golang.org/x/sys/unix"

	"github.com/skiff-dev/skiff/internal/build/cache"
	"github.com/skiff-dev/skiff/internal/build/dockerfile"
	"github.com/skiff-dev/skiff/internal/oci"
)

// defaultPath is the PATH of scratch images and of RUN when the image sets
// none, as in BuildKit.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// from sets the stage up from its base and returns the ONBUILD triggers
// the base asks to run.
func (b *builder) from(ctx context.Context, s *stageState) ([]instructions.Command, error) {
	def := s.def
	fail := func(err error) error {
		return &StepError{File: b.plan.File, Line: def.Line, Instruction: "FROM " + def.From, Err: err}
	}
	switch {
	case def.FromStage >= 0:
		base := b.stages[def.FromStage]
		s.cf = base.cf.DeepCopy()
		s.history = append([]v1.History(nil), base.history...)
		s.layers = append([]v1.Layer(nil), base.layers...)
		s.key, s.created = base.key, base.created
	case def.From == dockerfile.Scratch:
		s.cf = &v1.ConfigFile{Architecture: "amd64", OS: "linux", Config: v1.Config{Env: []string{"PATH=" + defaultPath}}}
		s.key = cache.NewKey("FROM").String("scratch", "").Sum()
	default:
		base, err := b.pullStage(ctx, def.From)
		if err != nil {
			return nil, fail(err)
		}
		s.cf, s.history, s.layers, s.key, s.created = base.cf, base.history, base.layers, base.key, base.created
	}
	s.baseLayers = len(s.layers)
	s.runEnv = dockerfile.FromList(s.cf.Config.Env)
	var triggers []instructions.Command
	for _, expr := range s.cf.Config.OnBuild {
		c, err := parseTrigger(expr)
		if err != nil {
			return nil, fail(fmt.Errorf("ONBUILD %s: %w", expr, err))
		}
		triggers = append(triggers, c)
	}
	s.cf.Config.OnBuild = nil
	return triggers, nil
}

// pullStage resolves an image into the state of a stage built on it, once
// per build (the prefetcher may have done it already). Callers get a copy
// they may change.
func (b *builder) pullStage(ctx context.Context, image string) (*stageState, error) {
	b.pullMu.Lock()
	p, ok := b.pulls[image]
	if !ok {
		p = &pull{}
		b.pulls[image] = p
	}
	b.pullMu.Unlock()
	p.once.Do(func() { p.state, p.err = b.resolveImage(ctx, image) })
	if p.err != nil {
		return nil, p.err
	}
	s := *p.state
	s.cf = p.state.cf.DeepCopy()
	s.history = append([]v1.History(nil), p.state.history...)
	s.layers = append([]v1.Layer(nil), p.state.layers...)
	return &s, nil
}

// pull is one image resolution shared by the build and the prefetcher.
type pull struct {
	once  sync.Once
	state *stageState
	err   error
}

// prefetch extracts, in the background, the base layers of the stages after
// from that start from an image: once a step had to run, the stages after
// it will probably need their files too, and extracting them while this
// stage works is cheaper than waiting for it later.
func (b *builder) prefetch(ctx context.Context, from int) {
	b.mu.Lock()
	started := b.prefetched
	b.prefetched = true
	b.mu.Unlock()
	if started {
		return
	}
	for _, def := range b.plan.Stages[from+1:] {
		if !def.Needed || def.FromStage >= 0 || def.From == dockerfile.Scratch || !hasFilesystemStep(def) {
			continue
		}
		b.background.Go(func() error {
			s, err := b.pullStage(ctx, def.From)
			if err != nil {
				return nil // the stage itself will report it
			}
			for _, l := range s.layers {
				if ctx.Err() != nil {
					return nil
				}
				_, _ = b.opts.Store.Dir(ctx, l)
			}
			return nil
		})
	}
}

func hasFilesystemStep(def *dockerfile.Stage) bool {
	for _, c := range def.Commands {
		switch c.(type) {
		case *instructions.RunCommand, *instructions.CopyCommand, *instructions.AddCommand, *instructions.WorkdirCommand:
			return true
		}
	}
	return false
}

// resolveImage fetches an image's manifest and config.
func (b *builder) resolveImage(ctx context.Context, image string) (*stageState, error) {
	ref, err := b.opts.Registry.ParseReference(image)
	if err != nil {
		return nil, err
	}
	img, err := b.opts.Registry.Image(ctx, ref)
	if err != nil {
		if errors.Is(err, oci.ErrNotFound) {
			return nil, fmt.Errorf("base image %s not found: %w", image, err)
		}
		return nil, err
	}
	dig, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", image, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading config of %s: %w", image, err)
	}
	if cf.OS != "" && cf.OS != "linux" || cf.Architecture != "" && cf.Architecture != "amd64" {
		return nil, fmt.Errorf("image %s is %s/%s; skiff builds linux/amd64 images", image, cf.OS, cf.Architecture)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("reading layers of %s: %w", image, err)
	}
	cf = cf.DeepCopy()
	s := &stageState{name: image, cf: cf, history: cf.History, layers: layers, created: cf.Created.Time}
	s.key = cache.NewKey("FROM").String("image", ref.Context().Name()+"@"+dig.String()).Sum()
	return s, nil
}

func parseTrigger(expr string) (instructions.Command, error) {
	res, err := parser.Parse(strings.NewReader(expr))
	if err != nil {
		return nil, err
	}
	if len(res.AST.Children) != 1 {
		return nil, errors.New("expected one instruction")
	}
	return instructions.ParseCommand(res.AST.Children[0])
}

// expand substitutes ARG and ENV values into an instruction's words.
func (b *builder) expand(s *stageState, c instructions.Command) error {
	if _, isArg := c.(*instructions.ArgCommand); isArg {
		return nil
	}
	if ex, ok := c.(instructions.SupportsSingleWordExpansion); ok {
		if err := ex.Expand(func(w string) (string, error) {
			r, _, err := s.lex.ProcessWord(w, s.runEnv)
			return r, err
		}); err != nil {
			return err
		}
	}
	if ex, ok := c.(instructions.SupportsSingleWordExpansionRaw); ok {
		lex := shell.NewLex('\\')
		lex.SkipProcessQuotes = true
		return ex.ExpandRaw(func(w string) (string, error) {
			r, _, err := lex.ProcessWord(w, s.runEnv)
			return r, err
		})
	}
	return nil
}

// dispatch runs one instruction.
func (b *builder) dispatch(ctx context.Context, s *stageState, c instructions.Command) error {
	if err := b.expand(s, c); err != nil {
		return err
	}
	cfg := &s.cf.Config
	switch c := c.(type) {
	case *instructions.RunCommand:
		return b.run(ctx, s, c)
	case *instructions.CopyCommand:
		return b.copy(ctx, s, c, copyParams{sd: c.SourcesAndDest, from: c.From, chown: c.Chown, chmod: c.Chmod, link: c.Link, exclude: c.ExcludePatterns})
	case *instructions.AddCommand:
		if c.Unpack != nil || c.KeepGitDir != nil {
			return errors.New("ADD --unpack and --keep-git-dir are not supported")
		}
		return b.copy(ctx, s, c, copyParams{sd: c.SourcesAndDest, add: true, chown: c.Chown, chmod: c.Chmod, link: c.Link, exclude: c.ExcludePatterns, checksum: c.Checksum})
	case *instructions.WorkdirCommand:
		return b.workdir(ctx, s, c)
	case *instructions.EnvCommand:
		var parts []string
		for _, kv := range c.Env {
			s.runEnv = s.runEnv.With(kv.Key, kv.Value)
			cfg.Env = dockerfile.FromList(cfg.Env).With(kv.Key, kv.Value).List()
			parts = append(parts, kv.Key+"="+kv.Value)
		}
		b.configStep(s, c, "ENV "+strings.Join(parts, " "))
	case *instructions.ArgCommand:
		b.arg(s, c)
	case *instructions.LabelCommand:
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		var parts []string
		for _, kv := range c.Labels {
			cfg.Labels[kv.Key] = kv.Value
			parts = append(parts, kv.Key+"="+kv.Value)
		}
		b.configStep(s, c, "LABEL "+strings.Join(parts, " "))
	case *instructions.MaintainerCommand:
		s.cf.Author = c.Maintainer
		b.configStep(s, c, "MAINTAINER "+c.Maintainer)
	case *instructions.ExposeCommand:
		var words []string
		for _, p := range c.Ports {
			ws, err := s.lex.ProcessWords(p, s.runEnv)
			if err != nil {
				return err
			}
			words = append(words, ws...)
		}
		ports, err := exposedPorts(words)
		if err != nil {
			return err
		}
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range ports {
			cfg.ExposedPorts[p] = struct{}{}
		}
		b.configStep(s, c, "EXPOSE "+strings.Join(ports, " "))
	case *instructions.VolumeCommand:
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			if v == "" {
				return errors.New("VOLUME specified can not be an empty string")
			}
			cfg.Volumes[v] = struct{}{}
		}
		b.configStep(s, c, fmt.Sprintf("VOLUME %v", c.Volumes))
	case *instructions.UserCommand:
		cfg.User = c.User
		b.configStep(s, c, "USER "+c.User)
	case *instructions.CmdCommand:
		cfg.Cmd = withShell(cfg.Shell, c.ShellDependantCmdLine)
		s.cmdSet = true
		b.configStep(s, c, fmt.Sprintf("CMD %q", cfg.Cmd))
	case *instructions.EntrypointCommand:
		cfg.Entrypoint = withShell(cfg.Shell, c.ShellDependantCmdLine)
		if !s.cmdSet {
			cfg.Cmd = nil
		}
		b.configStep(s, c, fmt.Sprintf("ENTRYPOINT %q", cfg.Entrypoint))
	case *instructions.ShellCommand:
		cfg.Shell = c.Shell
		b.configStep(s, c, fmt.Sprintf("SHELL %q", c.Shell))
	case *instructions.StopSignalCommand:
		if err := checkSignal(c.Signal); err != nil {
			return err
		}
		cfg.StopSignal = c.Signal
		b.configStep(s, c, "STOPSIGNAL "+c.Signal)
	case *instructions.HealthCheckCommand:
		h := c.Health
		cfg.Healthcheck = &v1.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
		b.configStep(s, c, fmt.Sprintf("HEALTHCHECK %q", h.Test))
	case *instructions.OnbuildCommand:
		cfg.OnBuild = append(cfg.OnBuild, c.Expression)
		b.configStep(s, c, "ONBUILD "+c.Expression)
	default:
		return fmt.Errorf("instruction %s is not supported", strings.ToUpper(c.Name()))
	}
	return nil
}

// arg declares build arguments in the stage, as BuildKit does: a
// --build-arg value wins, then the default (expanded), then the value of a
// global ARG of the same name.
func (b *builder) arg(s *stageState, c *instructions.ArgCommand) {
	var parts []string
	for _, kv := range c.Args {
		var val *string
		if v, ok := b.plan.BuildArgs[kv.Key]; ok {
			val = &v
		} else if kv.Value != nil {
			v, _, err := s.lex.ProcessWord(*kv.Value, s.runEnv)
			if err == nil {
				val = &v
			}
		} else if v, ok := dockerfile.Env(b.plan.GlobalArgs).Get(kv.Key); ok {
			val = &v
		}
		part := kv.Key
		if val != nil {
			s.runEnv = s.runEnv.With(kv.Key, *val)
			s.args = s.args.With(kv.Key, *val)
			part += "=" + *val
		}
		parts = append(parts, part)
	}
	b.configStep(s, c, "ARG "+strings.Join(parts, " "))
}

// withShell turns a shell-form command line into the exec form.
func withShell(sh []string, c instructions.ShellDependantCmdLine) []string {
	if !c.PrependShell {
		return append([]string(nil), c.CmdLine...)
	}
	if len(sh) == 0 {
		sh = []string{"/bin/sh", "-c"}
	}
	return append(append([]string(nil), sh...), strings.Join(c.CmdLine, " "))
}

// exposedPorts normalizes EXPOSE values ("80", "53/udp", "8000-8002/tcp").
func exposedPorts(specs []string) ([]string, error) {
	var out []string
	for _, spec := range specs {
		port, proto, _ := strings.Cut(spec, "/")
		if proto == "" {
			proto = "tcp"
		}
		proto = strings.ToLower(proto)
		if proto != "tcp" && proto != "udp" && proto != "sctp" {
			return nil, fmt.Errorf("EXPOSE %s: invalid protocol %q", spec, proto)
		}
		lo, hi, isRange := strings.Cut(port, "-")
		start, err1 := strconv.ParseUint(lo, 10, 16)
		end := start
		var err2 error
		if isRange {
			end, err2 = strconv.ParseUint(hi, 10, 16)
		}
		if err1 != nil || err2 != nil || end < start {
			return nil, fmt.Errorf("EXPOSE %s: invalid port", spec)
		}
		for p := start; p <= end; p++ {
			out = append(out, fmt.Sprintf("%d/%s", p, proto))
		}
	}
	return out, nil
}

// workdirPath resolves a WORKDIR argument against the current one.
func workdirPath(current, p string) string {
	if !path.IsAbs(p) {
		if current == "" {
			current = "/"
		}
		p = path.Join(current, p)
	}
	return path.Clean(p)
}

// checkSignal accepts a signal number or name, with or without "SIG".
func checkSignal(sig string) error {
	if n, err := strconv.Atoi(sig); err == nil {
		if n > 0 && n <= 64 {
			return nil
		}
	} else if unix.SignalNum("SIG"+strings.TrimPrefix(strings.ToUpper(sig), "SIG")) != 0 {
		return nil
	} else if strings.HasPrefix(strings.ToUpper(sig), "SIGRTMIN") || strings.HasPrefix(strings.ToUpper(sig), "RTMIN") {
		return nil
	}
	return fmt.Errorf("invalid signal %q", sig)
}

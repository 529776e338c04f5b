package dockerfile

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Scratch is the name of the empty base image.
const Scratch = "scratch"

// Platform is the only platform skiff builds for.
const Platform = "linux/amd64"

// Options are the inputs of Parse besides the Dockerfile itself.
type Options struct {
	// Target names the stage to build; empty means the last one.
	Target string
	// BuildArgs are --build-arg values.
	BuildArgs map[string]string
}

// Plan is a parsed Dockerfile with its stages resolved.
type Plan struct {
	// File is the Dockerfile's path, used in messages.
	File string
	// Stages in Dockerfile order.
	Stages []*Stage
	// Target is the index of the stage to build.
	Target int
	// GlobalArgs are the ARGs before the first FROM plus the predefined
	// platform ARGs, after --build-arg overrides, in declaration order.
	GlobalArgs []KV
	// BuildArgs are the --build-arg values.
	BuildArgs map[string]string
	// Escape is the Dockerfile's escape character.
	Escape rune
	// UnusedBuildArgs are build args no ARG instruction declares.
	UnusedBuildArgs []string

	names map[string]int // every stage name, to refuse forward references
}

// KV is an ordered name=value pair.
type KV struct{ Key, Value string }

// Stage is one FROM section.
type Stage struct {
	Index int
	// Name is the AS name, lower-cased; empty when unnamed.
	Name string
	// From is the base after ARG expansion: Scratch, an image reference, or
	// the name of an earlier stage.
	From string
	// FromStage is the index of the base stage, or -1.
	FromStage int
	// Line is the line of the FROM instruction.
	Line     int
	Commands []instructions.Command
	// Needed reports whether the target depends on this stage.
	Needed bool
	// Uses lists earlier stages this stage reads files from (COPY --from,
	// RUN --mount from=), by index.
	Uses []int
	// Images lists images (not stages) this stage copies or mounts from.
	Images []string
}

// Ref names the stage in messages: its name or its index.
func (s *Stage) Ref() string {
	if s.Name != "" {
		return s.Name
	}
	return strconv.Itoa(s.Index)
}

// Error is a Dockerfile problem at a line.
type Error struct {
	File string
	Line int
	Err  error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

var lineInMessage = regexp.MustCompile(`^dockerfile parse error on line (\d+): `)

// wrap turns a buildkit error into an *Error naming the file and line.
func wrap(file string, err error, fallbackLine int) error {
	line := fallbackLine
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		line = le.Locations[0][0].Start.Line
	}
	msg := err.Error()
	if m := lineInMessage.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = strings.TrimPrefix(msg, m[0])
	}
	return &Error{File: file, Line: line, Err: errors.New(msg)}
}

// Line returns the first line of an instruction.
func Line(c instructions.Command) int {
	if loc := c.Location(); len(loc) > 0 {
		return loc[0].Start.Line
	}
	return 0
}

// PredefinedArgs are the platform ARGs every Dockerfile can use.
func PredefinedArgs() []KV {
	return []KV{
		{"BUILDPLATFORM", Platform}, {"BUILDOS", "linux"}, {"BUILDARCH", "amd64"}, {"BUILDVARIANT", ""},
		{"TARGETPLATFORM", Platform}, {"TARGETOS", "linux"}, {"TARGETARCH", "amd64"}, {"TARGETVARIANT", ""},
	}
}

// Parse parses the Dockerfile content read from file and resolves its
// stages for opts.
func Parse(file string, content []byte, opts Options) (*Plan, error) {
	if len(bytes.TrimSpace(content)) == 0 {
		return nil, &Error{File: file, Err: errors.New("the Dockerfile is empty")}
	}
	res, err := parser.Parse(bytes.NewReader(content))
	if err != nil {
		return nil, wrap(file, err, 0)
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, wrap(file, err, 0)
	}
	if len(stages) == 0 {
		return nil, &Error{File: file, Err: errors.New("no FROM instruction")}
	}
	p := &Plan{File: file, Escape: res.EscapeToken, BuildArgs: opts.BuildArgs, names: map[string]int{}}
	for i := len(stages) - 1; i >= 0; i-- {
		if stages[i].Name != "" {
			p.names[strings.ToLower(stages[i].Name)] = i
		}
	}
	lex := shell.NewLex(res.EscapeToken)

	declared := map[string]bool{}
	global := Env(PredefinedArgs())
	for _, m := range metaArgs {
		for _, a := range m.Args {
			declared[a.Key] = true
			if v, ok := opts.BuildArgs[a.Key]; ok {
				global = global.With(a.Key, v)
			} else if a.Value != nil {
				v, _, err := lex.ProcessWord(*a.Value, global)
				if err != nil {
					return nil, wrap(file, err, Line(&m))
				}
				global = global.With(a.Key, v)
			} else if _, ok := global.Get(a.Key); !ok {
				global = global.With(a.Key, "")
			}
		}
	}
	p.GlobalArgs = global

	for i := range stages {
		st, err := p.resolveStage(lex, i, &stages[i], declared)
		if err != nil {
			return nil, err
		}
		p.Stages = append(p.Stages, st)
	}
	if err := p.resolveTarget(opts.Target); err != nil {
		return nil, err
	}
	p.markNeeded(p.Target)
	for k := range opts.BuildArgs {
		if !declared[k] && !isPredefined(k) {
			p.UnusedBuildArgs = append(p.UnusedBuildArgs, k)
		}
	}
	sort.Strings(p.UnusedBuildArgs)
	return p, nil
}

func isPredefined(k string) bool {
	switch k {
	case "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY",
		"http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "all_proxy", "SOURCE_DATE_EPOCH":
		return true
	}
	for _, kv := range PredefinedArgs() {
		if kv.Key == k {
			return true
		}
	}
	return false
}

func (p *Plan) resolveStage(lex *shell.Lex, i int, s *instructions.Stage, declared map[string]bool) (*Stage, error) {
	line := 0
	if len(s.Location) > 0 {
		line = s.Location[0].Start.Line
	}
	fail := func(format string, args ...any) error {
		return &Error{File: p.File, Line: line, Err: fmt.Errorf(format, args...)}
	}
	env := Env(p.GlobalArgs)
	from, _, err := lex.ProcessWord(s.BaseName, env)
	if err != nil {
		return nil, wrap(p.File, err, line)
	}
	if from == "" {
		return nil, fail("base name (%s) should not be blank", s.BaseName)
	}
	if s.Platform != "" {
		plat, _, err := lex.ProcessWord(s.Platform, env)
		if err != nil {
			return nil, wrap(p.File, err, line)
		}
		if plat != Platform && plat != "linux/x86_64" {
			return nil, fail("platform %q is not supported: skiff builds %s images only", plat, Platform)
		}
	}
	st := &Stage{Index: i, Name: strings.ToLower(s.Name), From: from, FromStage: -1, Line: line, Commands: s.Commands}
	if j := p.stageIndex(from); j >= 0 {
		st.FromStage = j
		st.From = p.Stages[j].Name
	} else if strings.EqualFold(from, Scratch) {
		st.From = Scratch
	}
	for _, c := range s.Commands {
		if a, ok := c.(*instructions.ArgCommand); ok {
			for _, kv := range a.Args {
				declared[kv.Key] = true
			}
		}
		refs, err := p.sources(c, i)
		if err != nil {
			return nil, err
		}
		for _, ref := range refs {
			if j := p.stageIndex(ref); j >= 0 {
				if !containsInt(st.Uses, j) {
					st.Uses = append(st.Uses, j)
				}
			} else if !contains(st.Images, ref) {
				st.Images = append(st.Images, ref)
			}
		}
	}
	return st, nil
}

// sources returns the --from values of c (stage names, indexes or images).
func (p *Plan) sources(c instructions.Command, stage int) ([]string, error) {
	var refs []string
	switch c := c.(type) {
	case *instructions.CopyCommand:
		if c.From != "" {
			refs = append(refs, c.From)
		}
		if c.Parents {
			return nil, &Error{File: p.File, Line: Line(c), Err: errors.New("COPY --parents is not supported")}
		}
	case *instructions.RunCommand:
		for _, m := range instructions.GetMounts(c) {
			if m.From != "" {
				refs = append(refs, m.From)
			}
		}
	}
	for i, r := range refs {
		if strings.Contains(r, "$") {
			return nil, &Error{File: p.File, Line: Line(c), Err: fmt.Errorf("variable expansion is not supported in --from=%s; define a stage with FROM instead", r)}
		}
		if n, err := strconv.Atoi(r); err == nil {
			if n < 0 || n >= stage {
				return nil, &Error{File: p.File, Line: Line(c), Err: fmt.Errorf("--from=%d: stage %d must be defined before the current stage", n, n)}
			}
			refs[i] = p.Stages[n].Ref()
			if p.Stages[n].Name == "" {
				refs[i] = "#" + r
			}
			continue
		}
		if j, ok := p.names[strings.ToLower(r)]; ok && j >= stage {
			return nil, &Error{File: p.File, Line: Line(c), Err: fmt.Errorf("--from=%s: stage %s must be defined before the current stage", r, r)}
		}
	}
	return refs, nil
}

// stageIndex finds an earlier stage by name, or by "#index" for unnamed
// stages referenced by number; -1 when there is none.
func (p *Plan) stageIndex(ref string) int {
	if n, ok := strings.CutPrefix(ref, "#"); ok {
		if i, err := strconv.Atoi(n); err == nil && i >= 0 && i < len(p.Stages) {
			return i
		}
	}
	for _, s := range p.Stages {
		if s.Name != "" && strings.EqualFold(s.Name, ref) {
			return s.Index
		}
	}
	return -1
}

// StageFor resolves a --from value seen in stage's commands to an earlier
// stage; ok is false when it names an image.
func (p *Plan) StageFor(ref string) (*Stage, bool) {
	if n, err := strconv.Atoi(ref); err == nil && n >= 0 && n < len(p.Stages) {
		return p.Stages[n], true
	}
	if i := p.stageIndex(ref); i >= 0 {
		return p.Stages[i], true
	}
	return nil, false
}

func (p *Plan) resolveTarget(target string) error {
	if target == "" {
		p.Target = len(p.Stages) - 1
		return nil
	}
	for _, s := range p.Stages {
		if s.Name != "" && strings.EqualFold(s.Name, target) {
			p.Target = s.Index
			return nil
		}
	}
	var names []string
	for _, s := range p.Stages {
		if s.Name != "" {
			names = append(names, s.Name)
		}
	}
	return &Error{File: p.File, Err: fmt.Errorf("target stage %q not found (stages: %s)", target, strings.Join(names, ", "))}
}

func (p *Plan) markNeeded(i int) {
	s := p.Stages[i]
	if s.Needed {
		return
	}
	s.Needed = true
	if s.FromStage >= 0 {
		p.markNeeded(s.FromStage)
	}
	for _, u := range s.Uses {
		p.markNeeded(u)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func containsInt(list []int, n int) bool {
	for _, x := range list {
		if x == n {
			return true
		}
	}
	return false
}

package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// LoadOptions say which configuration to load and how to activate profiles.
type LoadOptions struct {
	// Filename is -f; empty means skiff.yaml, else skaffold.yaml, in WorkDir.
	Filename string
	// WorkDir is the working directory; empty means the process's.
	WorkDir string
	// Profiles are -p values; "-name" deactivates an auto-activated profile.
	Profiles []string
	// Modules are -m values: keep only these configs and what they require.
	Modules []string
	// Activation is what profile auto-activation looks at.
	Activation ActivationContext
}

// Project is the loaded configuration: every module after profiles, in
// dependency order (required configs first), and skiff's own sections.
type Project struct {
	WorkDir string
	// File is the root configuration file.
	File string
	// Configs are the modules, each with profiles applied.
	Configs []*Config
	// Skiff is the skiff/v1 document, nil for a plain Skaffold project.
	Skiff *Config
	// Profiles lists the profiles applied, per module.
	Profiles []AppliedProfile
	// Warnings name accepted fields that have no effect in skiff.
	Warnings []string
	// EnvFile are the variables of the working directory's skaffold.env
	// that the environment did not set. Templates and profile activation
	// have seen them; Skaffold also exports them to the processes it runs.
	EnvFile map[string]string
}

// AppliedProfile records that a profile was applied to a module.
type AppliedProfile struct {
	Module  string // module name, or file#index
	Profile string
}

// DefaultFilenames are looked up in the working directory when -f is not given.
var DefaultFilenames = []string{"skiff.yaml", "skaffold.yaml"}

var (
	skaffoldVersion = regexp.MustCompile(`^skaffold/(v3((alpha|beta)\d+)?|v4beta(\d+))$`)
	oldSkaffold     = regexp.MustCompile(`^skaffold/v[12]`)
)

// SkiffAPIVersion is the apiVersion of skiff's own files.
const SkiffAPIVersion = "skiff/v1"

// Load reads the root configuration and everything it requires.
func Load(opts LoadOptions) (*Project, error) {
	wd := opts.WorkDir
	if wd == "" {
		var err error
		if wd, err = os.Getwd(); err != nil {
			return nil, err
		}
	}
	if opts.Activation.Env == nil {
		opts.Activation.Env = Environ()
	}
	envFile, err := ReadEnvFile(wd)
	if err != nil {
		return nil, err
	}
	opts.Activation.Env, envFile = withEnvFile(opts.Activation.Env, envFile)
	file := opts.Filename
	if file == "" {
		for _, name := range DefaultFilenames {
			if _, err := os.Stat(filepath.Join(wd, name)); err == nil {
				file = name
				break
			}
		}
		if file == "" {
			return nil, fmt.Errorf("no skiff.yaml or skaffold.yaml in %s; run skiff in the project directory or pass -f FILE", wd)
		}
	}
	opts.Profiles = splitProfiles(opts.Profiles)
	l := &loader{opts: opts, wd: wd, found: map[string]bool{}, loaded: map[string]*Config{}, loadedWith: map[string]string{}, deps: map[*Config][]*Config{}}
	l.vars = opts.Activation.Env
	if _, err := l.loadFile(file, true, nil, nil, nil); err != nil {
		return nil, err
	}
	for _, p := range opts.Profiles {
		name := strings.TrimPrefix(p, "-")
		if !l.found[name] {
			e := Error{File: file, Line: 1, Path: "profiles"}
			if l.rootProfiles != nil {
				e = *l.rootProfiles
			}
			e.Msg = fmt.Sprintf("profile %q (from -p) is not defined in %s or the configs it requires%s", name, file, l.available())
			return nil, &e
		}
	}
	configs := l.out
	if len(opts.Modules) > 0 {
		var err error
		if configs, err = l.selectModules(opts.Modules); err != nil {
			return nil, err
		}
	}
	p := &Project{WorkDir: wd, File: file, Configs: configs, Skiff: l.skiff, Profiles: l.applied, Warnings: l.warnings, EnvFile: envFile}
	for _, c := range p.Configs {
		applyDefaults(c)
	}
	if len(p.Configs) == 1 {
		setDefaultManifests(p.Configs[0], wd)
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	return p, nil
}

type loader struct {
	opts  LoadOptions
	wd    string
	vars  map[string]string
	found map[string]bool // profile names defined anywhere
	stack []string        // documents being loaded (file#index), for cycle detection
	// stackNames name the documents of stack for messages.
	stackNames []string
	// rootProfiles is where the root file's profiles are, for errors about
	// -p names.
	rootProfiles *Error
	loaded       map[string]*Config
	// loadedWith records the activeProfiles each config was loaded with.
	loadedWith map[string]string
	deps       map[*Config][]*Config
	out        []*Config
	skiff      *Config
	applied    []AppliedProfile
	warnings   []string
	allNames   []string
}

func (l *loader) available() string {
	if len(l.allNames) == 0 {
		return " (it defines no profiles)"
	}
	return " (available: " + strings.Join(l.allNames, ", ") + ")"
}

// loadFile loads the documents of file (filtered by names) with the given
// extra profiles, appending them and their requirements to l.out.
// ref is where the file was named (a requires entry), for errors; nil for
// the root file.
func (l *loader) loadFile(file string, root bool, names []string, depProfiles []string, ref *Error) ([]*Config, error) {
	refErr := func(msg string) error {
		if ref == nil {
			return fmt.Errorf("%s", msg)
		}
		e := *ref
		e.Msg = msg
		return &e
	}
	abs := file
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(l.wd, file)
	}
	if fi, err := os.Stat(abs); err == nil && fi.IsDir() {
		abs = filepath.Join(abs, "skaffold.yaml")
		file = filepath.Join(file, "skaffold.yaml")
	}
	data, err := readConfigFile(abs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, refErr(fmt.Sprintf("configuration file %s does not exist", file))
		}
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	docs, err := parseDocuments(data, file)
	if err != nil {
		return nil, err
	}
	dir := ""
	if !root {
		dir = filepath.Dir(file)
	}
	var result []*Config
	matched := map[string]bool{}
	for i, doc := range docs {
		name := scalarAt(doc, "metadata", "name")
		if len(names) > 0 && !slices.Contains(names, name) {
			continue
		}
		matched[name] = true
		src := Source{File: file, Index: i, Dir: dir, Root: root}
		key := abs + "#" + strconv.Itoa(i)
		if j := slices.Index(l.stack, key); j >= 0 {
			return nil, refErr(fmt.Sprintf("requires forms a cycle: %s → %s", strings.Join(l.stackNames[j:], " → "), docName(file, name)))
		}
		if c, ok := l.loaded[key]; ok {
			if prev := l.loadedWith[key]; prev != strings.Join(depProfiles, ",") {
				return nil, &Error{File: file, Line: doc.Line, Column: doc.Column, Msg: fmt.Sprintf("config is required twice with different activeProfiles (%q and %q); require it once", prev, strings.Join(depProfiles, ","))}
			}
			result = append(result, c)
			continue
		}
		l.stack = append(l.stack, key)
		l.stackNames = append(l.stackNames, docName(file, name))
		c, err := l.loadDocument(doc, src, depProfiles)
		l.stack = l.stack[:len(l.stack)-1]
		l.stackNames = l.stackNames[:len(l.stackNames)-1]
		if err != nil {
			return nil, err
		}
		if c == nil {
			continue // a skiff/v1 document that points at a Skaffold file
		}
		l.loaded[key] = c
		l.loadedWith[key] = strings.Join(depProfiles, ",")
		result = append(result, c)
	}
	for _, n := range names {
		if !matched[n] {
			return nil, refErr(fmt.Sprintf("%s has no config named %q", file, n))
		}
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("%s: the file has no configuration documents", file)
	}
	return result, nil
}

// docName names a document in cycle messages: the file, and the config
// name when there is one.
func docName(file, name string) string {
	if name == "" {
		return file
	}
	return file + " (" + name + ")"
}

// parseDocuments splits a YAML stream into document nodes.
func parseDocuments(data []byte, file string) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, yamlSyntaxError(err, file)
		}
		if len(n.Content) == 0 || isNull(n.Content[0]) {
			continue
		}
		root := n.Content[0]
		if root.Kind != yaml.MappingNode {
			return nil, &Error{File: file, Line: root.Line, Column: root.Column, Msg: "a configuration document must be a mapping with apiVersion and kind"}
		}
		docs = append(docs, root)
	}
	return docs, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func yamlSyntaxError(err error, file string) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: line, Msg: "malformed YAML: " + m[2]}
	}
	return &Error{File: file, Msg: "malformed YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

func scalarAt(n *yaml.Node, keys ...string) string {
	for _, k := range keys {
		n = mappingGet(n, k)
	}
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

// loadDocument checks, applies profiles to, and decodes one document, after
// loading what it requires.
func (l *loader) loadDocument(doc *yaml.Node, src Source, depProfiles []string) (*Config, error) {
	apiVersion, err := checkHeader(doc, src.File)
	if err != nil {
		return nil, err
	}
	isSkiff := apiVersion == SkiffAPIVersion
	if isSkiff && !src.Root {
		return nil, &Error{File: src.File, Line: doc.Line, Column: doc.Column, Msg: "skiff/v1 documents are only read from the root configuration; require a skaffold/* file instead"}
	}
	if src.Root && l.rootProfiles == nil {
		l.rootProfiles = &Error{File: src.File, Line: doc.Line, Column: doc.Column}
		if k := mappingKey(doc, "profiles"); k != nil {
			l.rootProfiles = &Error{File: src.File, Line: k.Line, Column: k.Column, Path: "profiles"}
		}
	}
	// The whole document, inactive profiles included, must be valid
	// Skaffold; what skiff does not support is rejected only once it is
	// known to take effect.
	ck := &checker{file: src.File, skiff: isSkiff}
	if err := ck.check(doc, reflect.TypeOf(Config{}), ""); err != nil {
		return nil, err
	}
	if isSkiff {
		if l.skiff != nil {
			return nil, &Error{File: src.File, Line: doc.Line, Column: doc.Column, Msg: fmt.Sprintf("a second skiff/v1 document; the first is in %s", l.skiff.Source.File)}
		}
		if ref := mappingGet(doc, "skaffold"); ref != nil && !isNull(ref) {
			return nil, l.loadSkaffoldRef(doc, ref, src)
		}
	}
	var pre Config
	if err := doc.Decode(&pre); err != nil {
		return nil, &Error{File: src.File, Line: doc.Line, Msg: err.Error()}
	}
	module := pre.Metadata.Name
	if module == "" {
		module = fmt.Sprintf("%s#%d", src.File, src.Index)
	}
	profiles, err := l.applyProfiles(doc, pre, src, module, depProfiles)
	if err != nil {
		return nil, err
	}
	// Profiles and patches may have introduced new values: check again,
	// now as the configuration in effect, and warn about ignored fields
	// once.
	ck = &checker{file: src.File, skiff: isSkiff, effective: true, warnings: &l.warnings}
	if err := ck.check(doc, reflect.TypeOf(Config{}), ""); err != nil {
		return nil, err
	}
	if err := expandTemplatesIn(doc, src.File, l.vars); err != nil {
		return nil, err
	}
	if err := resolvePathsIn(doc, src.Dir); err != nil {
		return nil, err
	}
	c := &Config{}
	if err := doc.Decode(c); err != nil {
		return nil, &Error{File: src.File, Line: doc.Line, Msg: err.Error()}
	}
	c.Source = src
	c.node = doc
	var deps []*Config
	for i, dep := range c.Requires {
		active, err := dependencyProfiles(dep, profiles)
		if err != nil {
			return nil, configErrorAt(c, fmt.Sprintf("requires[%d]", i), err.Error())
		}
		var got []*Config
		if dep.Path == "" {
			// Without a path, requires names configs of this same file, as
			// in Skaffold (parser.processEachDependency: "empty path means
			// configs in the same file").
			if len(dep.Names) == 0 {
				return nil, configErrorAt(c, fmt.Sprintf("requires[%d]", i), "names neither a path nor configs; set path, or configs to require documents of this file")
			}
			ref := configErrorAt(c, fmt.Sprintf("requires[%d].configs", i), "").(*Error)
			got, err = l.loadFile(src.File, src.Root, dep.Names, active, ref)
			if err != nil {
				return nil, err
			}
			deps = append(deps, got...)
			continue
		}
		ref := configErrorAt(c, fmt.Sprintf("requires[%d].path", i), "").(*Error)
		got, err = l.loadFile(joinDir(src.Dir, dep.Path), false, dep.Names, active, ref)
		if err != nil {
			return nil, err
		}
		deps = append(deps, got...)
	}
	l.deps[c] = deps
	if isSkiff {
		l.skiff = c
	}
	if name := c.Metadata.Name; name != "" {
		for _, other := range l.out {
			if other.Metadata.Name == name {
				return nil, configErrorAt(c, "metadata.name", fmt.Sprintf("module %q is also defined in %s; module names must be unique", name, other.Source.File))
			}
		}
	}
	l.out = append(l.out, c)
	return c, nil
}

// loadSkaffoldRef handles a skiff/v1 document that names an unchanged
// Skaffold file: that file is loaded as the root configuration.
func (l *loader) loadSkaffoldRef(doc, ref *yaml.Node, src Source) error {
	for _, k := range append(fieldKeys(fieldsOf(reflect.TypeOf(Pipeline{}))), "requires", "profiles") {
		if v := mappingGet(doc, k); v != nil && !isNull(v) {
			return &Error{File: src.File, Line: v.Line, Column: v.Column, Path: k, Msg: fmt.Sprintf("cannot be set together with skaffold: %s; put it in that file instead", ref.Value)}
		}
	}
	c := &Config{}
	if err := doc.Decode(c); err != nil {
		return &Error{File: src.File, Line: doc.Line, Msg: err.Error()}
	}
	c.Source = src
	c.node = doc
	l.skiff = c
	pos := configErrorAt(c, "skaffold", "").(*Error)
	if _, err := l.loadFile(c.Skaffold, true, nil, nil, pos); err != nil {
		return err
	}
	return nil
}

func checkHeader(doc *yaml.Node, file string) (string, error) {
	av := mappingGet(doc, "apiVersion")
	if av == nil || av.Value == "" {
		return "", &Error{File: file, Line: doc.Line, Column: doc.Column, Msg: "missing apiVersion; use skaffold/v4beta11 (or another skaffold/v3*, skaffold/v4beta* version) or skiff/v1"}
	}
	v := av.Value
	switch {
	case v == SkiffAPIVersion:
	case skaffoldVersion.MatchString(v):
		if m := skaffoldVersion.FindStringSubmatch(v); m[4] != "" {
			if n, _ := strconv.Atoi(m[4]); n < 1 || n > 14 {
				return "", &Error{File: file, Line: av.Line, Column: av.Column, Path: "apiVersion", Msg: fmt.Sprintf("%s is not a Skaffold version skiff knows; use skaffold/v4beta1 … skaffold/v4beta14", v)}
			}
		}
	case oldSkaffold.MatchString(v):
		how := "`skiff fix --overwrite` upgrades it to skaffold/v4beta13"
		if !strings.HasPrefix(v, "skaffold/v2beta") {
			how = "upgrade it with Skaffold v1's `skaffold fix` to skaffold/v2beta*, then run `skiff fix --overwrite`"
		}
		return "", &Error{File: file, Line: av.Line, Column: av.Column, Path: "apiVersion", Msg: fmt.Sprintf("%s is too old for skiff; %s", v, how)}
	default:
		return "", &Error{File: file, Line: av.Line, Column: av.Column, Path: "apiVersion", Msg: fmt.Sprintf("unknown apiVersion %q; use skaffold/v3*, skaffold/v4beta1 … v4beta14, or skiff/v1", v)}
	}
	if k := mappingGet(doc, "kind"); k == nil || k.Value != "Config" {
		n := doc
		if k != nil {
			n = k
		}
		return "", &Error{File: file, Line: n.Line, Column: n.Column, Path: "kind", Msg: "kind must be Config"}
	}
	return v, nil
}

// applyProfiles activates and applies profiles to doc, in order, and removes
// the profiles section. It returns the names applied.
func (l *loader) applyProfiles(doc *yaml.Node, pre Config, src Source, module string, depProfiles []string) ([]string, error) {
	defined := map[string]int{}
	for i, p := range pre.Profiles {
		if _, dup := defined[p.Name]; dup {
			return nil, configErrorAtNode(src.File, doc, fmt.Sprintf("profiles[%d].name", i), fmt.Sprintf("profile %q is defined twice", p.Name))
		}
		defined[p.Name] = i
		l.found[p.Name] = true
		l.allNames = append(l.allNames, p.Name)
	}
	var named []string
	for _, p := range l.opts.Profiles {
		if _, ok := defined[strings.TrimPrefix(p, "-")]; ok {
			named = append(named, p)
		}
	}
	for _, p := range depProfiles {
		if _, ok := defined[p]; !ok {
			return nil, &Error{File: src.File, Line: doc.Line, Msg: fmt.Sprintf("profile %q (activated through requires.activeProfiles) is not defined here", p)}
		}
		named = append(named, p)
	}
	for i, p := range pre.Profiles {
		if _, err := autoActivated(p, l.opts.Activation); err != nil {
			return nil, configErrorAtNode(src.File, doc, fmt.Sprintf("profiles[%d].activation", i), err.Error())
		}
	}
	activated, err := activatedProfiles(pre.Profiles, named, l.opts.Activation)
	if err != nil {
		return nil, &Error{File: src.File, Line: doc.Line, Path: "profiles", Msg: err.Error()}
	}
	profNodes := mappingGet(doc, "profiles")
	for _, name := range activated {
		i := defined[name]
		pnode := profNodes.Content[i]
		ck := &checker{file: src.File, effective: true}
		if err := ck.check(pnode, reflect.TypeOf(Profile{}), fmt.Sprintf("profiles[%d]", i)); err != nil {
			return nil, err
		}
		overlayPipeline(doc, pnode)
		for j, patch := range pre.Profiles[i].Patches {
			if err := applyPatch(doc, patch); err != nil {
				pn := mappingGet(pnode, "patches").Content[j]
				return nil, &Error{File: src.File, Line: pn.Line, Column: pn.Column, Path: fmt.Sprintf("profiles[%d].patches[%d]", i, j), Msg: fmt.Sprintf("profile %q: %v", name, err)}
			}
		}
		l.applied = append(l.applied, AppliedProfile{Module: module, Profile: name})
	}
	mappingDelete(doc, "profiles")
	return activated, nil
}

// dependencyProfiles turns requires[].activeProfiles into the profiles to
// activate in the required config, given the requiring config's profiles.
func dependencyProfiles(dep ConfigDependency, active []string) ([]string, error) {
	var out []string
	for _, ap := range dep.ActiveProfiles {
		on := len(ap.ActivatedBy) == 0
		for _, by := range ap.ActivatedBy {
			if slices.Contains(active, by) {
				on = true
			}
		}
		if on && !slices.Contains(out, ap.Name) {
			out = append(out, ap.Name)
		}
	}
	return out, nil
}

// selectModules keeps the named modules and everything they require.
func (l *loader) selectModules(modules []string) ([]*Config, error) {
	keep := map[*Config]bool{}
	var visit func(c *Config)
	visit = func(c *Config) {
		if keep[c] {
			return
		}
		keep[c] = true
		for _, d := range l.deps[c] {
			visit(d)
		}
	}
	for _, m := range modules {
		var found bool
		for _, c := range l.out {
			if c.Metadata.Name == m {
				visit(c)
				found = true
			}
		}
		if !found {
			var names []string
			for _, c := range l.out {
				if c.Metadata.Name != "" {
					names = append(names, c.Metadata.Name)
				}
			}
			return nil, fmt.Errorf("module %q not found (modules: %s)", m, strings.Join(names, ", "))
		}
	}
	var out []*Config
	for _, c := range l.out {
		if keep[c] {
			out = append(out, c)
		}
	}
	return out, nil
}

// Environ returns the process environment as a map.
func Environ() map[string]string {
	vars := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	return vars
}

// splitProfiles accepts repeated and comma-separated -p values.
func splitProfiles(in []string) []string {
	var out []string
	for _, v := range in {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// maxConfigSize bounds what is read as a configuration file.
const maxConfigSize = 8 << 20

// readConfigFile reads a regular file of reasonable size; a device, a FIFO or
// a huge file is refused instead of hanging or exhausting memory.
func readConfigFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Size() > maxConfigSize {
		return nil, fmt.Errorf("%s is %d bytes; configuration files are limited to %d", path, fi.Size(), maxConfigSize)
	}
	return os.ReadFile(path)
}

package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// configErrorAt builds an error at a field path of c's effective document,
// e.g. "build.artifacts[0].requires[1].image".
func configErrorAt(c *Config, path, msg string) error {
	return configErrorAtNode(c.Source.File, c.node, path, msg)
}

var pathToken = regexp.MustCompile(`[^.\[\]]+|\[\d+\]`)

func configErrorAtNode(file string, doc *yaml.Node, path, msg string) error {
	e := &Error{File: file, Path: path, Msg: msg}
	n := doc
	for _, tok := range pathToken.FindAllString(path, -1) {
		if n == nil {
			break
		}
		var next *yaml.Node
		if strings.HasPrefix(tok, "[") {
			i, _ := strconv.Atoi(strings.Trim(tok, "[]"))
			if n.Kind == yaml.SequenceNode && i < len(n.Content) {
				next = n.Content[i]
			}
		} else {
			next = mappingGet(n, tok)
		}
		if next == nil {
			break
		}
		n = next
	}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	return e
}

// applyDefaults fills in Skaffold's defaults that change behaviour, so the
// effective configuration shows them.
func applyDefaults(c *Config) {
	dropDuplicateHelmReleases(c)
	for _, a := range c.Build.Artifacts {
		if a.Workspace == "" {
			a.Workspace = joinDir(c.Source.Dir, ".")
		}
		if a.DockerArtifact == nil && a.KanikoArtifact == nil && a.CustomArtifact == nil && a.KoArtifact == nil {
			a.DockerArtifact = &DockerArtifact{}
		}
		if d := a.DockerArtifact; d != nil && d.DockerfilePath == "" {
			d.DockerfilePath = "Dockerfile"
		}
		if k := a.KanikoArtifact; k != nil && k.DockerfilePath == "" {
			k.DockerfilePath = "Dockerfile"
		}
	}
	if len(c.Build.Artifacts) > 0 && c.Build.TagPolicy == (TagPolicy{}) {
		c.Build.TagPolicy.GitTagger = &GitTagger{Variant: "Tags"}
	}
	if g := c.Build.TagPolicy.GitTagger; g != nil && g.Variant == "" {
		g.Variant = "Tags"
	}
	if k := c.Render.Kustomize; k != nil && len(k.Paths) == 0 {
		k.Paths = []string{joinDir(c.Source.Dir, ".")}
	}
	for _, t := range c.Test {
		if t.Workspace == "" {
			t.Workspace = joinDir(c.Source.Dir, ".")
		}
	}
}

// dropDuplicateHelmReleases removes from deploy.helm the releases that
// manifests.helm of the same config also names: Skaffold renders deploy.helm
// releases only when manifests.helm does not define one of that name
// (runner.GetRenderer's filterDuplicates), and skiff renders both sections.
func dropDuplicateHelmReleases(c *Config) {
	legacy, h := c.Deploy.LegacyHelmDeploy, c.Render.Helm
	if legacy == nil || h == nil {
		return
	}
	names := map[string]bool{}
	for _, r := range h.Releases {
		names[r.Name] = true
	}
	kept := legacy.Releases[:0:0]
	for _, r := range legacy.Releases {
		if !names[r.Name] {
			kept = append(kept, r)
		}
	}
	legacy.Releases = kept
}

// DefaultManifests is what Skaffold renders when a single configuration
// names no manifests (constants.DefaultKubectlManifests).
var DefaultManifests = []string{"k8s/*.yaml"}

// setDefaultManifests gives a project of one configuration that names no
// manifests Skaffold's default rawYaml (defaults.SetDefaultRenderer, applied
// by Skaffold's runner only when there is exactly one config). Skaffold
// warns and renders nothing when the pattern matches no file; skiff, whose
// explicit rawYaml patterns must match, applies the default only when it
// does, so a project without k8s/ still builds quietly.
func setDefaultManifests(c *Config, wd string) {
	g := c.Render.Generate
	if len(g.RawK8s) > 0 || g.Kustomize != nil || g.Helm != nil || c.Deploy.LegacyHelmDeploy != nil {
		return
	}
	for _, pattern := range DefaultManifests {
		if m, _ := filepath.Glob(filepath.Join(wd, pattern)); len(m) == 0 {
			return
		}
	}
	c.Render.RawK8s = append([]string(nil), DefaultManifests...)
	c.defaultManifests = true
}

// validate checks what spans fields and modules: unique image names, known
// artifact dependencies without cycles, tests naming built images.
func (p *Project) validate() error {
	type where struct {
		c    *Config
		path string
	}
	images := map[string]where{}
	for _, c := range p.Configs {
		for i, a := range c.Build.Artifacts {
			path := fmt.Sprintf("build.artifacts[%d].image", i)
			if prev, dup := images[a.ImageName]; dup {
				return configErrorAt(c, path, fmt.Sprintf("image %q is also built by %s (%s); image names must be unique", a.ImageName, prev.c.Source.File, prev.path))
			}
			images[a.ImageName] = where{c, path}
			if a.CustomArtifact != nil && a.CustomArtifact.BuildCommand == "" {
				return configErrorAt(c, fmt.Sprintf("build.artifacts[%d].custom", i), "missing buildCommand")
			}
		}
	}
	for _, c := range p.Configs {
		for i, a := range c.Build.Artifacts {
			for j, d := range a.Dependencies {
				if _, ok := images[d.ImageName]; !ok {
					return configErrorAt(c, fmt.Sprintf("build.artifacts[%d].requires[%d].image", i, j), fmt.Sprintf("no artifact builds image %q", d.ImageName))
				}
			}
		}
		for i, t := range c.Test {
			if _, ok := images[t.ImageName]; !ok {
				return configErrorAt(c, fmt.Sprintf("test[%d].image", i), fmt.Sprintf("no artifact builds image %q", t.ImageName))
			}
		}
	}
	return p.checkArtifactCycles()
}

// checkArtifactCycles rejects artifacts that require each other, naming the
// requires entry that closes the cycle (Skaffold also refuses them: "cycle
// detected in build dependencies").
func (p *Project) checkArtifactCycles() error {
	type edge struct {
		to   string
		c    *Config
		path string
	}
	deps := map[string][]edge{}
	for _, c := range p.Configs {
		for i, a := range c.Build.Artifacts {
			for j, d := range a.Dependencies {
				deps[a.ImageName] = append(deps[a.ImageName], edge{d.ImageName, c, fmt.Sprintf("build.artifacts[%d].requires[%d].image", i, j)})
			}
		}
	}
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var visit func(img string, chain []string) error
	visit = func(img string, chain []string) error {
		state[img] = visiting
		for _, e := range deps[img] {
			switch state[e.to] {
			case visiting:
				cycle := append(chain, img, e.to)
				for len(cycle) > 0 && cycle[0] != e.to {
					cycle = cycle[1:]
				}
				return configErrorAt(e.c, e.path, fmt.Sprintf("artifacts require each other in a cycle: %s; remove one of these requires", strings.Join(cycle, " → ")))
			case unvisited:
				if err := visit(e.to, append(chain, img)); err != nil {
					return err
				}
			}
		}
		state[img] = done
		return nil
	}
	for _, a := range p.Artifacts() {
		if state[a.ImageName] == unvisited {
			if err := visit(a.ImageName, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// Artifacts lists every module's artifacts in module order.
func (p *Project) Artifacts() []*Artifact {
	var out []*Artifact
	for _, c := range p.Configs {
		out = append(out, c.Build.Artifacts...)
	}
	return out
}

// Environments lists skiff's environments (empty for a Skaffold project).
func (p *Project) Environments() []Environment {
	if p.Skiff == nil {
		return nil
	}
	return p.Skiff.Environments
}

// Environment returns the environment called name.
func (p *Project) Environment(name string) (*Environment, error) {
	envs := p.Environments()
	var names []string
	for i := range envs {
		if envs[i].Name == name {
			return &envs[i], nil
		}
		names = append(names, envs[i].Name)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("environment %q: %s defines no environments; add an environments section to a skiff/v1 file", name, p.File)
	}
	return nil, fmt.Errorf("environment %q is not defined in %s (environments: %s)", name, p.File, strings.Join(names, ", "))
}

var nonDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// Name is the application's name: the skiff/v1 document's metadata.name,
// else the first module's, else the working directory's base name; made a
// valid DNS label so it can name Kubernetes objects.
func (p *Project) Name() string {
	name := ""
	if p.Skiff != nil {
		name = p.Skiff.Metadata.Name
	}
	for _, c := range p.Configs {
		if name == "" {
			name = c.Metadata.Name
		}
	}
	if name == "" {
		name = filepath.Base(p.WorkDir)
	}
	name = strings.Trim(nonDNS.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if len(name) > 53 {
		name = strings.Trim(name[:53], "-")
	}
	if name == "" {
		name = "app"
	}
	return name
}

// ErrorAt is an error at a field path of c's effective document (e.g.
// "manifests.hooks.before[0]"), with the line and column of that field.
func (c *Config) ErrorAt(path, msg string) error { return configErrorAt(c, path, msg) }

package dev

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/skiff-dev/skiff/internal/build/dockerfile"
	"github.com/skiff-dev/skiff/internal/config"
)

// artifactInputs are the files a's build reads. A problem that keeps them
// from being known exactly (a Dockerfile that does not parse) is returned
// with a wider set that still contains them.
func artifactInputs(ctx context.Context, workDir string, a *config.Artifact) (FileSet, error) {
	if b, ok := dockerBuildOf(workDir, a); ok {
		return dockerInputs(b)
	}
	if a.KoArtifact != nil {
		return koInputs(ctx, workDir, a)
	}
	ws := absPath(workDir, a.Workspace)
	c := a.CustomArtifact
	if c == nil || c.Dependencies == nil {
		// Without declared dependencies the build command may read its
		// whole context ($BUILD_CONTEXT).
		return FileSet{Trees: []Tree{{Dir: ws, Base: ws}}}, nil
	}
	d := c.Dependencies
	pm, err := newMatcher(d.Ignore)
	if err != nil {
		return FileSet{Trees: []Tree{{Dir: ws, Base: ws}}}, fmt.Errorf("custom.dependencies.ignore: %w", err)
	}
	paths := d.Paths
	if d.Command != "" {
		if paths, err = dependencyCommand(ctx, ws, d.Command); err != nil {
			return FileSet{Trees: []Tree{{Dir: ws, Base: ws, Ignore: pm}}}, err
		}
	}
	var patterns []string
	for _, p := range paths {
		if filepath.IsAbs(p) {
			if r, ok := relSlash(ws, p); ok {
				p = r
			}
		}
		if s, ok := dockerfile.CleanSource(filepath.ToSlash(p)); ok {
			patterns = append(patterns, s)
		}
	}
	if len(patterns) == 0 {
		return FileSet{}, nil
	}
	return sourceSet(ws, patterns, pm), nil
}

// dependencyCommand runs custom.dependencies.command, which prints the
// artifact's dependencies as a JSON array of paths (Skaffold's contract).
func dependencyCommand(ctx context.Context, dir, command string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("custom.dependencies.command %q: %w", command, err)
	}
	var paths []string
	if err := json.Unmarshal(out, &paths); err != nil {
		return nil, fmt.Errorf("custom.dependencies.command %q must print a JSON array of paths: %w", command, err)
	}
	return paths, nil
}

// manifestInputs are the files render reads: rawYaml globs, kustomization
// directories and the local resources they reference, helm charts and
// their values files. kustomizations are the kustomization files, whose
// changes can change the set.
func manifestInputs(p *config.Project) (set FileSet, kustomizations []string) {
	wd := p.WorkDir
	for _, c := range p.Configs {
		m := c.Render.Generate
		for _, g := range m.RawK8s {
			if strings.Contains(g, "://") {
				continue
			}
			set.Globs = append(set.Globs, absPath(wd, g))
		}
		if k := m.Kustomize; k != nil {
			seen := map[string]bool{}
			for _, dir := range k.Paths {
				addKustomization(&set, absPath(wd, dir), seen)
			}
			for dir := range seen {
				for _, name := range kustomizationFiles {
					kustomizations = append(kustomizations, filepath.Join(dir, name))
				}
			}
		}
		var releases []config.HelmRelease
		if h := m.Helm; h != nil {
			releases = append(releases, h.Releases...)
		}
		if h := c.Deploy.LegacyHelmDeploy; h != nil {
			releases = append(releases, h.Releases...)
		}
		for _, r := range releases {
			if r.ChartPath != "" {
				dir := absPath(wd, r.ChartPath)
				set.Trees = append(set.Trees, Tree{Dir: dir, Base: dir})
			}
			for _, f := range r.ValuesFiles {
				set.Files = append(set.Files, absPath(wd, f))
			}
			for _, f := range r.SetFiles {
				set.Files = append(set.Files, absPath(wd, f))
			}
		}
	}
	return set, kustomizations
}

// kustomizationFiles are the names kustomize looks for, in its order.
var kustomizationFiles = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// addKustomization adds a kustomization directory and, recursively, the
// local directories and files it references outside itself (an overlay's
// ../../base).
func addKustomization(set *FileSet, dir string, seen map[string]bool) {
	if seen[dir] {
		return
	}
	seen[dir] = true
	set.Trees = append(set.Trees, Tree{Dir: dir, Base: dir})
	var doc map[string]any
	for _, name := range kustomizationFiles {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		if yaml.Unmarshal(data, &doc) != nil {
			return
		}
		break
	}
	for _, ref := range kustomizationRefs(doc) {
		if strings.Contains(ref, "://") || strings.HasPrefix(ref, "git@") || strings.HasPrefix(ref, "github.com/") {
			continue
		}
		p := absPath(dir, ref)
		if within(dir, p) {
			continue
		}
		fi, err := os.Stat(p)
		switch {
		case err == nil && fi.IsDir():
			addKustomization(set, p, seen)
		case err == nil:
			set.Files = append(set.Files, p)
		}
	}
}

// kustomizationRefs lists the local paths a kustomization names.
func kustomizationRefs(doc map[string]any) []string {
	var out []string
	strs := func(v any) {
		list, _ := v.([]any)
		for _, x := range list {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	for _, key := range []string{"resources", "bases", "components", "crds", "patchesStrategicMerge", "transformers", "generators", "validators", "configurations"} {
		strs(doc[key])
	}
	for _, key := range []string{"patches", "patchesJson6902"} {
		list, _ := doc[key].([]any)
		for _, x := range list {
			if m, ok := x.(map[string]any); ok {
				if s, ok := m["path"].(string); ok {
					out = append(out, s)
				}
			}
		}
	}
	for _, key := range []string{"configMapGenerator", "secretGenerator"} {
		list, _ := doc[key].([]any)
		for _, x := range list {
			m, _ := x.(map[string]any)
			strs(m["envs"])
			if s, ok := m["env"].(string); ok {
				out = append(out, s)
			}
			files, _ := m["files"].([]any)
			for _, f := range files {
				if s, ok := f.(string); ok {
					if _, v, found := strings.Cut(s, "="); found {
						s = v
					}
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// configInputs are the configuration files of the project.
func configInputs(p *config.Project) FileSet {
	var set FileSet
	seen := map[string]bool{}
	add := func(f string) {
		if f == "" {
			return
		}
		f = absPath(p.WorkDir, f)
		if !seen[f] {
			seen[f] = true
			set.Files = append(set.Files, f)
		}
	}
	add(p.File)
	for _, c := range p.Configs {
		add(c.Source.File)
	}
	if p.Skiff != nil {
		add(p.Skiff.Source.File)
	}
	return set
}

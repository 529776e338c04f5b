package build

import (
	"strings"

	"github.com/skiff-dev/skiff/internal/config"
)

// Select lists the artifacts of p to build, in p's order, each with its
// module's tag policy: every artifact when want is nil, else those want
// accepts plus everything they require (the builder needs their
// references). build, dev and run all choose their targets here.
func Select(p *config.Project, want func(*config.Artifact) bool) []Target {
	return SelectMissing(p, want, nil)
}

// SelectMissing is Select without the artifacts that are only required
// and have a reference in built (Options.Built): skiff dev rebuilds an
// image without rebuilding, or even looking up, what it requires.
func SelectMissing(p *config.Project, want func(*config.Artifact) bool, built map[string]string) []Target {
	var all []Target
	byName := map[string]*config.Artifact{}
	for _, c := range p.Configs {
		for _, a := range c.Build.Artifacts {
			all = append(all, Target{Artifact: a, TagPolicy: c.Build.TagPolicy})
			byName[a.ImageName] = a
		}
	}
	if want == nil {
		return all
	}
	chosen := map[string]bool{}
	var add func(a *config.Artifact)
	add = func(a *config.Artifact) {
		if chosen[a.ImageName] {
			return
		}
		chosen[a.ImageName] = true
		for _, d := range a.Dependencies {
			if _, ok := built[d.ImageName]; ok {
				continue
			}
			if da, ok := byName[d.ImageName]; ok {
				add(da)
			}
		}
	}
	for _, t := range all {
		if want(t.Artifact) {
			add(t.Artifact)
		}
	}
	var out []Target
	for _, t := range all {
		if chosen[t.Artifact.ImageName] {
			out = append(out, t)
		}
	}
	return out
}

// ImageContains accepts artifacts whose image name contains one of filters
// (skiff build -b); nil filters accept everything.
func ImageContains(filters []string) func(*config.Artifact) bool {
	if len(filters) == 0 {
		return nil
	}
	return func(a *config.Artifact) bool {
		for _, f := range filters {
			if strings.Contains(a.ImageName, f) {
				return true
			}
		}
		return false
	}
}

// Artifacts accepts exactly arts (skiff dev's rebuild set).
func Artifacts(arts []*config.Artifact) func(*config.Artifact) bool {
	set := map[*config.Artifact]bool{}
	names := map[string]bool{}
	for _, a := range arts {
		set[a], names[a.ImageName] = true, true
	}
	return func(a *config.Artifact) bool { return set[a] || names[a.ImageName] }
}

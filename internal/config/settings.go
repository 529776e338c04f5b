package config

import "slices"

// Settings that several modules (documents of one file, or configs pulled in
// with requires) may each set are merged here, in one place, with one rule:
//
//   - Modules are visited in load order: a required configuration before the
//     one that requires it, the documents of one file in file order, so the
//     root configuration comes last.
//   - For a single value, the last module that sets it wins (a value left at
//     its zero value, or a pointer left nil, does not count as set). So the
//     root configuration overrides what it requires.
//   - Lists that name registries (insecureRegistries) are the union of every
//     module's.
//
// Command-line flags win over all of them (the CLI applies them on top).

// DeploySettings are the deploy section's settings, merged over modules.
type DeploySettings struct {
	// Namespace is deploy.kubectl.defaultNamespace.
	Namespace        string
	KubeContext      string
	StatusCheck      *bool
	DeadlineSeconds  int
	TolerateFailures bool
}

// DeploySettings merges the modules' deploy sections (see the rule above).
func (p *Project) DeploySettings() DeploySettings {
	var s DeploySettings
	for _, c := range p.Configs {
		d := c.Deploy
		if d.StatusCheck != nil {
			s.StatusCheck = d.StatusCheck
		}
		if d.StatusCheckDeadlineSeconds > 0 {
			s.DeadlineSeconds = d.StatusCheckDeadlineSeconds
		}
		if d.TolerateFailuresUntilDeadline {
			s.TolerateFailures = true
		}
		if d.KubeContext != "" {
			s.KubeContext = d.KubeContext
		}
		if k := d.KubectlDeploy; k != nil && k.DefaultNamespace != nil && *k.DefaultNamespace != "" {
			s.Namespace = *k.DefaultNamespace
		}
	}
	return s
}

// BuildSettings are build.local's settings, merged over modules, and
// build.cluster of the last module that sets it.
type BuildSettings struct {
	Push        *bool
	Concurrency *int
	Cluster     *ClusterDetails
}

// BuildSettings merges the modules' build.local sections (see the rule
// above).
func (p *Project) BuildSettings() BuildSettings {
	var s BuildSettings
	for _, c := range p.Configs {
		if c.Build.Cluster != nil {
			s.Cluster = c.Build.Cluster
		}
		if lb := c.Build.LocalBuild; lb != nil {
			if lb.Push != nil {
				s.Push = lb.Push
			}
			if lb.Concurrency != nil {
				s.Concurrency = lb.Concurrency
			}
		}
	}
	return s
}

// InsecureRegistries are the registries every module lists in
// build.insecureRegistries and in its kaniko artifacts' insecureRegistry,
// without duplicates, in order of appearance.
func (p *Project) InsecureRegistries() []string {
	var out []string
	add := func(regs []string) {
		for _, r := range regs {
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	for _, c := range p.Configs {
		add(c.Build.InsecureRegistries)
		for _, a := range c.Build.Artifacts {
			if k := a.KanikoArtifact; k != nil {
				add(k.InsecureRegs)
			}
		}
	}
	return out
}

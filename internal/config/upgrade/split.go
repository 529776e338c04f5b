package upgrade

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// splitRenderFromDeploy is v2beta29 → v3alpha1, where Skaffold v2 split
// rendering out of deploy (schema/v2beta29/upgrade.go, upgradeOnePipeline):
//   - deploy.kubectl.manifests becomes manifests.rawYaml;
//   - deploy.kustomize's paths (default ["."]) and buildArgs become
//     manifests.kustomize, and its other fields (flags, defaultNamespace,
//     hooks) merge into deploy.kubectl, which now deploys what kustomize
//     renders (mergeKustomizeIntoKubectlDeployer);
//   - deploy.helm's releases and flags are copied to manifests.helm and
//     stay in deploy.helm (Skaffold v1 used the release namespace for both),
//     with artifactOverrides and imageStrategy turned into
//     setValueTemplates;
//   - deploy.kpt is refused, as Skaffold refuses it.
func splitRenderFromDeploy(u *upgrader, pl *yaml.Node, path string) error {
	deploy := get(pl, "deploy")
	if deploy == nil || deploy.Kind != yaml.MappingNode {
		return nil
	}
	if kpt := get(deploy, "kpt"); kpt != nil {
		return u.errorf(kpt, path+"deploy.kpt", "converting deploy.kpt is not supported (skaffold fix refuses it too); move it to manifests.kpt and deploy.kpt by hand")
	}
	manifests := func() *yaml.Node { return ensure(pl, "manifests", "deploy") }
	if m := take(get(deploy, "kubectl"), "manifests"); m != nil {
		set(manifests(), "rawYaml", m)
	}
	if kus := take(deploy, "kustomize"); kus != nil {
		k := mapping()
		paths := take(kus, "paths")
		if len(items(paths)) == 0 {
			paths = sequence(scalar("."))
		}
		set(k, "paths", paths)
		if ba := take(kus, "buildArgs"); ba != nil {
			set(k, "buildArgs", ba)
		}
		set(manifests(), "kustomize", k)
		if err := u.mergeIntoKubectl(deploy, kus, path); err != nil {
			return err
		}
	}
	if helm := get(deploy, "helm"); helm != nil && helm.Kind == yaml.MappingNode {
		for _, r := range items(get(helm, "releases")) {
			convertArtifactOverrides(r)
		}
		h := mapping()
		if r := get(helm, "releases"); r != nil {
			set(h, "releases", clone(r))
		}
		if f := get(helm, "flags"); f != nil {
			set(h, "flags", clone(f))
		}
		set(manifests(), "helm", h)
	}
	return nil
}

// mergeIntoKubectl merges what is left of a v2beta29 kustomize deployer
// into deploy.kubectl, refusing the conflicts Skaffold refuses.
func (u *upgrader) mergeIntoKubectl(deploy, kus *yaml.Node, path string) error {
	kubectl := get(deploy, "kubectl")
	if kubectl == nil || kubectl.Kind != yaml.MappingNode {
		set(deploy, "kubectl", kus)
		return nil
	}
	if ns := get(kus, "defaultNamespace"); ns != nil {
		if old := get(kubectl, "defaultNamespace"); old != nil && old.Value != ns.Value {
			return u.errorf(ns, path+"deploy.kustomize.defaultNamespace", "cannot merge into deploy.kubectl, which sets defaultNamespace %q; make them equal first", old.Value)
		}
		set(kubectl, "defaultNamespace", ns)
	}
	kf, pf := get(kus, "flags"), get(kubectl, "flags")
	if isTrue(get(kf, "disableValidation")) != isTrue(get(pf, "disableValidation")) {
		return u.errorf(kf, path+"deploy.kustomize.flags.disableValidation", "differs from deploy.kubectl.flags.disableValidation and cannot be merged; make them equal first")
	}
	if kf != nil {
		flags := ensure(kubectl, "flags")
		for _, k := range []string{"global", "apply", "delete"} {
			appendSeq(flags, k, get(kf, k))
		}
	}
	if kh := get(kus, "hooks"); kh != nil {
		hooks := ensure(kubectl, "hooks")
		for _, k := range []string{"before", "after"} {
			appendSeq(hooks, k, get(kh, k))
		}
	}
	return nil
}

// appendSeq appends the items of sequence add to the sequence at key of m.
func appendSeq(m *yaml.Node, key string, add *yaml.Node) {
	if len(items(add)) == 0 {
		return
	}
	if cur := get(m, key); cur != nil && cur.Kind == yaml.SequenceNode {
		cur.Content = append(cur.Content, add.Content...)
		return
	}
	set(m, key, add)
}

// convertArtifactOverrides turns a release's artifactOverrides (value →
// image) into setValueTemplates, as Skaffold's v2beta29 upgrade does: with
// the helm image strategy, <key>.repository and <key>.tag (and
// <key>.registry with explicitRegistry); otherwise the fully qualified
// image at <key>.
func convertArtifactOverrides(r *yaml.Node) {
	aos := take(r, "artifactOverrides")
	strategy := take(r, "imageStrategy")
	if aos == nil || aos.Kind != yaml.MappingNode {
		return
	}
	helm := get(strategy, "helm")
	explicit := isTrue(get(helm, "explicitRegistry"))
	add := map[string]string{}
	for _, kv := range flatten(aos, "") {
		k, s := kv[0], templateSuffix(kv[1])
		if helm == nil {
			add[k] = "{{.IMAGE_FULLY_QUALIFIED_" + s + "}}"
			continue
		}
		add[k+".tag"] = "{{.IMAGE_TAG_" + s + "}}@{{.IMAGE_DIGEST_" + s + "}}"
		add[k+".repository"] = "{{.IMAGE_REPO_" + s + "}}"
		if explicit {
			add[k+".registry"] = "{{.IMAGE_DOMAIN_" + s + "}}"
			add[k+".repository"] = "{{.IMAGE_REPO_NO_DOMAIN_" + s + "}}"
		}
	}
	svt := get(r, "setValueTemplates")
	if svt == nil || svt.Kind != yaml.MappingNode {
		svt = mapping()
		set(r, "setValueTemplates", svt)
	}
	keys := make([]string, 0, len(add))
	for k := range add {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		set(svt, k, scalar(add[k]))
	}
}

// flatten lists the scalar leaves of mapping n as dotted keys, as
// Skaffold's FlatMap reads nested artifactOverrides.
func flatten(n *yaml.Node, prefix string) [][2]string {
	var out [][2]string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := prefix+n.Content[i].Value, n.Content[i+1]
		if v.Kind == yaml.MappingNode {
			out = append(out, flatten(v, k+".")...)
			continue
		}
		out = append(out, [2]string{k, v.Value})
	}
	return out
}

// templateSuffix is how Skaffold turns an image name into the suffix of
// its template variables (util.SanitizeHelmTemplateValue replaces the
// characters that cannot appear in a template name); it matches
// render.TemplateSuffix.
func templateSuffix(image string) string {
	return nonIdentifier.ReplaceAllString(image, "_")
}

var nonIdentifier = regexp.MustCompile(`[^A-Za-z0-9_]`)

// v2beta29 patch paths that moved to manifests (schema/v2beta29/upgrade.go,
// migrations).
var patchMigrations = [][2]string{
	{"/deploy/kubectl/manifests", "/manifests/rawYaml"},
	{"/deploy/kustomize/paths", "/manifests/kustomize/paths"},
	{"/deploy/kustomize/buildArgs", "/manifests/kustomize/buildArgs"},
	{"/deploy/helm", "/manifests/helm"},
}

var artifactOverridesPatch = regexp.MustCompile(`^/deploy/helm/releases/([0-9]+)/artifactOverrides/image$`)

// migratePatches rewrites the JSON patches of profiles for v3alpha1 as
// Skaffold does (upgradePatches, duplicateHelmPatches,
// upgradeArtifactOverridesPatches): paths into the moved sections point
// at manifests; a patch of deploy.helm (but not of its hooks) applies to
// both manifests.helm and deploy.helm; a patch of artifactOverrides/image
// becomes patches of setValueTemplates, by the release's image strategy.
func (u *upgrader) migratePatches(doc *yaml.Node) error {
	for pi, p := range items(get(doc, "profiles")) {
		patches := get(p, "patches")
		if len(items(patches)) == 0 {
			continue
		}
		var out, dups []*yaml.Node
		for i, patch := range patches.Content {
			pathNode := get(patch, "path")
			if pathNode == nil {
				out = append(out, patch)
				continue
			}
			old := pathNode.Value
			if m := artifactOverridesPatch.FindStringSubmatch(old); m != nil {
				conv, err := u.artifactOverridesPatch(p, patch, m[1], fmt.Sprintf("profiles[%d].patches[%d]", pi, i))
				if err != nil {
					return err
				}
				out = append(out, conv...)
				continue
			}
			hooks := strings.Contains(old, "/deploy/helm/hooks")
			if strings.Contains(old, "/deploy/helm") && !hooks {
				dups = append(dups, clone(patch))
			}
			if strings.Contains(old, "/deploy/kpt") {
				u.warnf(pathNode, fmt.Sprintf("profiles[%d].patches[%d].path", pi, i), "patches of deploy.kpt are not migrated; move them by hand")
			}
			if !hooks {
				for _, mig := range patchMigrations {
					if strings.Contains(old, mig[0]) {
						pathNode.Value = strings.ReplaceAll(old, mig[0], mig[1])
					}
				}
			}
			out = append(out, patch)
		}
		patches.Content = append(out, dups...)
	}
	return nil
}

// artifactOverridesPatch converts one patch of
// deploy.helm.releases[idx].artifactOverrides.image.
func (u *upgrader) artifactOverridesPatch(profile, patch *yaml.Node, idx, path string) ([]*yaml.Node, error) {
	value := get(patch, "value")
	if value == nil || value.Kind != yaml.ScalarNode {
		return nil, u.errorf(patch, path+".value", "a patch of artifactOverrides/image must set an image name")
	}
	i, _ := strconv.Atoi(idx)
	// The release the patch changes: the profile's own deploy.helm, else
	// the main pipeline's. Patches are migrated before the releases are
	// converted, so imageStrategy is still there to read.
	var strategy *yaml.Node
	for _, pl := range []*yaml.Node{profile, u.main} {
		if rs := helmReleases(pl); i < len(rs) {
			strategy = get(rs[i], "imageStrategy")
			break
		}
	}
	s := templateSuffix(value.Value)
	base := "/manifests/helm/releases/" + idx + "/setValueTemplates/image"
	mk := func(p, v string) *yaml.Node {
		n := clone(patch)
		set(n, "path", scalar(p))
		set(n, "value", scalar(v))
		return n
	}
	helm := get(strategy, "helm")
	if helm == nil {
		return []*yaml.Node{mk(base, "{{.IMAGE_FULLY_QUALIFIED_"+s+"}}")}, nil
	}
	out := []*yaml.Node{mk(base+".tag", "{{.IMAGE_TAG_"+s+"}}@{{.IMAGE_DIGEST_"+s+"}}")}
	if isTrue(get(helm, "explicitRegistry")) {
		return append(out, mk(base+".registry", "{{.IMAGE_DOMAIN_"+s+"}}"), mk(base+".repository", "{{.IMAGE_REPO_NO_DOMAIN_"+s+"}}")), nil
	}
	return append(out, mk(base+".repository", "{{.IMAGE_REPO_"+s+"}}")), nil
}

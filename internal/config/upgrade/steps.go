package upgrade

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// The small steps of Skaffold's chain. Each runs on the main pipeline and
// on every profile (Skaffold's util.UpgradePipelines does the same).

func helmReleases(pl *yaml.Node) []*yaml.Node {
	return items(getPath(pl, "deploy", "helm", "releases"))
}

// helmValuesToArtifactOverrides: v2beta3 → v2beta4 renamed
// deploy.helm.releases[].values to artifactOverrides
// (schema/v2beta3/upgrade.go).
func helmValuesToArtifactOverrides(_ *upgrader, pl *yaml.Node, _ string) error {
	for _, r := range helmReleases(pl) {
		rename(r, "values", "artifactOverrides")
	}
	return nil
}

// clusterPullSecret: v2beta4 → v2beta5 renamed build.cluster.pullSecret to
// pullSecretPath (schema/v2beta4/upgrade.go).
func clusterPullSecret(_ *upgrader, pl *yaml.Node, _ string) error {
	rename(getPath(pl, "build", "cluster"), "pullSecret", "pullSecretPath")
	return nil
}

// syncAutoBool: v2beta8 → v2beta9 made sync.auto a boolean, an object
// meaning true; in profiles, local.useBuildkit and useDockerCLI set to
// false are dropped so that they no longer override the main pipeline
// (schema/v2beta8/upgrade.go).
func syncAutoBool(u *upgrader, pl *yaml.Node, _ string) error {
	for _, a := range items(getPath(pl, "build", "artifacts")) {
		sync := get(a, "sync")
		if auto := get(sync, "auto"); auto != nil && auto.Kind == yaml.MappingNode {
			set(sync, "auto", boolNode(true))
		}
	}
	if u.profile != nil {
		local := getPath(pl, "build", "local")
		for _, k := range []string{"useBuildkit", "useDockerCLI"} {
			if v := get(local, k); v != nil && !isTrue(v) {
				take(local, k)
			}
		}
	}
	return nil
}

// helmRemoteChart: v2beta12 → v2beta13 replaced releases[].remote: true
// with remoteChart, chartPath naming only local charts from then on
// (schema/v2beta12/upgrade.go).
func helmRemoteChart(_ *upgrader, pl *yaml.Node, _ string) error {
	for _, r := range helmReleases(pl) {
		remote := take(r, "remote")
		if !isTrue(remote) {
			continue
		}
		if cp := take(r, "chartPath"); cp != nil {
			set(r, "remoteChart", cp)
		}
	}
	return nil
}

// dockerSecret: v2beta16 → v2beta17 replaced docker.secret (one secret,
// with an optional destination) by the list docker.secrets. Skaffold warns
// that a destination is no longer supported (schema/v2beta16/upgrade.go);
// its JSON clone then drops the old field, losing the secret. skiff keeps
// it as the one element of secrets, which is what the file meant.
func dockerSecret(u *upgrader, pl *yaml.Node, path string) error {
	for i, a := range items(getPath(pl, "build", "artifacts")) {
		docker := get(a, "docker")
		s := get(docker, "secret")
		if s == nil {
			continue
		}
		fpath := fmt.Sprintf("%sbuild.artifacts[%d].docker.secret", path, i)
		if d := take(s, "destination"); d != nil {
			u.warnf(d, fpath+".destination", "a docker secret's destination is no longer supported (skaffold/v2beta17); it was dropped")
		}
		take(docker, "secret")
		set(docker, "secrets", sequence(s))
	}
	return nil
}

// koPlatforms: v2beta27 → v2beta28 moved build.artifacts[].ko.platforms to
// build.artifacts[].platforms (schema/v2beta27/upgrade.go).
func koPlatforms(_ *upgrader, pl *yaml.Node, _ string) error {
	for _, a := range items(getPath(pl, "build", "artifacts")) {
		if p := take(get(a, "ko"), "platforms"); p != nil && len(p.Content) > 0 {
			set(a, "platforms", p)
		}
	}
	return nil
}

// remoteManifests: v3 → v4beta1 moved deploy.kubectl.remoteManifests to
// manifests.remoteManifests, each with deploy.kubeContext
// (schema/v3/upgrade.go).
func remoteManifests(_ *upgrader, pl *yaml.Node, _ string) error {
	kubectl := getPath(pl, "deploy", "kubectl")
	rm := take(kubectl, "remoteManifests")
	if rm == nil {
		return nil
	}
	ctx := getPath(pl, "deploy", "kubeContext")
	var out []*yaml.Node
	for _, m := range items(rm) {
		e := mapping()
		set(e, "manifest", m)
		if ctx != nil && ctx.Value != "" {
			set(e, "kubeContext", clone(ctx))
		}
		out = append(out, e)
	}
	if len(out) > 0 {
		manifests := ensure(pl, "manifests", "deploy")
		existing := get(manifests, "remoteManifests")
		if existing != nil && existing.Kind == yaml.SequenceNode {
			existing.Content = append(existing.Content, out...)
		} else {
			set(manifests, "remoteManifests", sequence(out...))
		}
	}
	return nil
}

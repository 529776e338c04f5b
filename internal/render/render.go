package render

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/manifest"
	"github.com/skiff-dev/skiff/internal/oci"
)

// DigestSource says where the image references written into the manifests
// come from, with Skaffold's --digest-source names.
type DigestSource string

// Digest sources. The zero value means DigestTag.
const (
	// DigestTag uses each build's tag exactly as the artifacts file or -i
	// gives it (normally repo:tag@sha256:…).
	DigestTag DigestSource = "tag"
	// DigestNone leaves every image reference as the sources write it.
	DigestNone DigestSource = "none"
	// DigestRemote is DigestTag, but builds given without a digest are
	// pinned to the digest their tag has in the registry now.
	DigestRemote DigestSource = "remote"
)

// KustomizeSource is one kustomization directory with the `kustomize build`
// flags Skaffold passes as buildArgs.
type KustomizeSource struct {
	Path      string
	BuildArgs []string
}

// Options are the inputs of a render. Paths are relative to the working
// directory (the config loader has already resolved them).
type Options struct {
	// RawYAML are file paths or filepath.Match globs (manifests.rawYaml).
	RawYAML []string
	// Kustomize are kustomization directories (manifests.kustomize.paths).
	Kustomize []KustomizeSource
	// Helm are releases rendered client-side (manifests.helm.releases).
	Helm []HelmRelease

	// Builds are the built images (artifacts file, then -i), in order: the
	// order numbers the IMAGE_REPO2… helm template variables.
	Builds []artifact.Build
	// ProjectImages are the image names the project builds
	// (build.artifacts[].image). A manifest that uses one of them without a
	// build is an error, unless DigestSource is DigestNone.
	ProjectImages []string
	// DigestSource selects how images are pinned; see the constants.
	DigestSource DigestSource
	// Registry resolves digests for DigestRemote and fetches Helm charts
	// from OCI registries, with its plain-HTTP, TLS and credential rules;
	// nil means a client that knows only loopback registries.
	Registry *oci.Client

	// Namespace is set on namespaced objects that have none, and overrides
	// helm releases' namespace (Skaffold's -n).
	Namespace string
	// Labels are added to every object's metadata.labels (not pod templates).
	Labels map[string]string
	// Scoper tells namespaced kinds from cluster-scoped ones beyond the
	// built-in kinds and the CRDs of this render; nil means offline.
	Scoper Scoper

	// Env is the environment helm setValueTemplates see, besides the image
	// variables (Skaffold passes its process environment).
	Env map[string]string
}

// Result is a render's output.
type Result struct {
	// Objects are sorted with manifest.Sort: Namespaces and CRDs first.
	Objects []manifest.Object
	// Images reports what image replacement did.
	Images ImageReport
	// Warnings are for the caller to print; the render still succeeded.
	Warnings []string
}

// Encode writes the objects as one YAML stream, byte-identical for
// identical inputs.
func (r *Result) Encode(w io.Writer) error {
	return manifest.Encode(w, r.Objects)
}

// item is a rendered object with what render still has to do to it.
type item struct {
	obj       manifest.Object
	source    string // names the source in messages
	defaultNS string // namespace for it when it has none and is namespaced
	generated bool   // made by skiff (createNamespace); yields to a real one
}

// Render renders every source of opts, pins images, fills namespaces, adds
// labels and sorts the objects.
func Render(ctx context.Context, opts Options) (*Result, error) {
	if opts.Registry == nil {
		opts.Registry = oci.New(oci.Options{})
	}
	if err := validateLabels(opts.Labels); err != nil {
		return nil, err
	}
	builds, err := resolveBuilds(ctx, opts)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	items, warnings, err := gather(ctx, opts, builds)
	if err != nil {
		return nil, err
	}
	res.Warnings = warnings

	objs := make([]manifest.Object, 0, len(items))
	for _, it := range items {
		objs = append(objs, it.obj)
	}
	sc := newScopes(objs, opts.Scoper)
	if err := setNamespaces(items, sc, opts.Namespace); err != nil {
		return nil, err
	}
	res.Warnings = append(res.Warnings, sc.warnings...)

	items, err = dedupe(items)
	if err != nil {
		return nil, err
	}
	res.Objects = make([]manifest.Object, 0, len(items))
	for _, it := range items {
		res.Objects = append(res.Objects, it.obj)
	}
	manifest.Sort(res.Objects)

	r := newImageReplacer(builds)
	for _, o := range res.Objects {
		if opts.DigestSource == DigestNone {
			r.collect(o.Unstructured)
		} else {
			r.replace(o.Unstructured)
		}
	}
	res.Images = r.finish()
	if opts.DigestSource != DigestNone {
		if err := missingProjectImages(res.Images, opts.ProjectImages); err != nil {
			return nil, err
		}
	}
	addLabels(res.Objects, opts.Labels)
	return res, nil
}

// gather renders every source, in order: rawYaml, kustomize, helm.
func gather(ctx context.Context, opts Options, builds []artifact.Build) ([]item, []string, error) {
	items, err := renderRawYAML(ctx, opts.RawYAML, opts.Namespace)
	if err != nil {
		return nil, nil, err
	}
	var warnings []string
	for _, k := range opts.Kustomize {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		objs, w, err := renderKustomize(k, opts.Namespace)
		if err != nil {
			return nil, nil, err
		}
		items = append(items, objs...)
		warnings = append(warnings, w...)
	}
	hc := helmContext{builds: builds, env: opts.Env, namespace: opts.Namespace, registry: opts.Registry}
	for _, rel := range opts.Helm {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		objs, w, err := renderHelm(ctx, rel, hc)
		if err != nil {
			return nil, nil, err
		}
		items = append(items, objs...)
		warnings = append(warnings, w...)
	}
	return items, warnings, nil
}

// dedupe refuses two sources defining the same object; a Namespace made
// for createNamespace yields to one the sources define.
func dedupe(items []item) ([]item, error) {
	byKey := make(map[string]int, len(items))
	out := items[:0:0]
	for _, it := range items {
		key := manifest.Key(it.obj.Unstructured)
		i, dup := byKey[key]
		switch {
		case !dup:
			byKey[key] = len(out)
			out = append(out, it)
		case it.generated:
			// keep the existing one
		case out[i].generated:
			out[i] = it
		default:
			return nil, fmt.Errorf("%s is defined twice, by %s and by %s: each object must come from one source",
				it.obj.ID(), out[i].source, it.source)
		}
	}
	return out, nil
}

// validateDigestSource rejects unknown --digest-source values early.
func validateDigestSource(d DigestSource) error {
	switch d {
	case "", DigestTag, DigestNone, DigestRemote:
		return nil
	}
	return fmt.Errorf("digest source %q is not supported: use tag, remote or none", d)
}

// resolveBuilds checks the builds and, for DigestRemote, pins the ones
// that have no digest.
func resolveBuilds(ctx context.Context, opts Options) ([]artifact.Build, error) {
	if err := validateDigestSource(opts.DigestSource); err != nil {
		return nil, err
	}
	builds := append([]artifact.Build(nil), opts.Builds...)
	if opts.DigestSource != DigestRemote {
		return builds, nil
	}
	for i, b := range builds {
		if hasDigest(b.Tag) {
			continue
		}
		d, err := opts.Registry.Digest(ctx, b.Tag)
		if err != nil {
			return nil, fmt.Errorf("image %s: resolving the digest of %s: %w", b.ImageName, b.Tag, err)
		}
		builds[i].Tag = b.Tag + "@" + d
	}
	return builds, nil
}

// oneLine folds a library's multi-line message into one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// sortedKeys returns m's keys in order, for deterministic iteration.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

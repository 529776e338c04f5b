package render

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/manifest"
)

// ImageUse is one container image reference in the rendered manifests.
type ImageUse struct {
	Object    string // the object, as manifest.ID names it
	Container string // the container's name
	Image     string // the reference as written in the sources
	Pinned    string // what it became; empty when left as written
	ImageName string // the build it matched, if any
}

// ImageReport says what image replacement did, so the caller can warn.
type ImageReport struct {
	// Replaced are references rewritten to a build's tag.
	Replaced []ImageUse
	// KeptDigest are references that match a build but were already pinned
	// by a digest, and so were left as written (as Skaffold does).
	KeptDigest []ImageUse
	// External are references no build matched: third-party images, or
	// images the caller forgot to pass.
	External []ImageUse
	// UnusedBuilds are the image names of builds that no manifest uses.
	UnusedBuilds []string
}

// podSpecPaths locates the pod spec of each workload kind whose container
// images are replaced. Kinds are matched by group and kind, any version.
var podSpecPaths = map[schema.GroupKind][]string{
	{Group: "", Kind: "Pod"}:                        {"spec"},
	{Group: "", Kind: "PodTemplate"}:                {"template", "spec"},
	{Group: "", Kind: "ReplicationController"}:      {"spec", "template", "spec"},
	{Group: "apps", Kind: "Deployment"}:             {"spec", "template", "spec"},
	{Group: "apps", Kind: "StatefulSet"}:            {"spec", "template", "spec"},
	{Group: "apps", Kind: "DaemonSet"}:              {"spec", "template", "spec"},
	{Group: "apps", Kind: "ReplicaSet"}:             {"spec", "template", "spec"},
	{Group: "extensions", Kind: "Deployment"}:       {"spec", "template", "spec"},
	{Group: "extensions", Kind: "DaemonSet"}:        {"spec", "template", "spec"},
	{Group: "extensions", Kind: "ReplicaSet"}:       {"spec", "template", "spec"},
	{Group: "batch", Kind: "Job"}:                   {"spec", "template", "spec"},
	{Group: "batch", Kind: "CronJob"}:               {"spec", "jobTemplate", "spec", "template", "spec"},
	{Group: "argoproj.io", Kind: "Rollout"}:         {"spec", "template", "spec"},
	{Group: "serving.knative.dev", Kind: "Service"}: {"spec", "template", "spec"},
}

var containerLists = []string{"initContainers", "containers", "ephemeralContainers"}

// imageReplacer pins images of the builds it knows.
type imageReplacer struct {
	builds map[string]artifact.Build // by image name
	pushed map[string]artifact.Build // by the repository of the tag
	used   map[string]bool
	report ImageReport
}

func newImageReplacer(builds []artifact.Build) *imageReplacer {
	r := &imageReplacer{builds: map[string]artifact.Build{}, pushed: map[string]artifact.Build{}, used: map[string]bool{}}
	for _, b := range builds {
		r.builds[b.ImageName] = b
	}
	for _, b := range builds {
		// A helm chart fed IMAGE_REPO/IMAGE_TAG writes the pushed repository,
		// not the image name: match that too, unless it is some image's name.
		if repo := artifact.Repository(b.Tag); r.builds[repo].ImageName == "" || repo == b.ImageName {
			r.pushed[repo] = b
		}
	}
	return r
}

// lookup finds the build for an image reference: by image name as
// Skaffold does, else by the repository the build was pushed to.
func (r *imageReplacer) lookup(image string) (artifact.Build, bool) {
	repo := artifact.Repository(image)
	if b, ok := r.builds[repo]; ok {
		return b, true
	}
	b, ok := r.pushed[repo]
	return b, ok
}

// podSpec returns the pod spec of a workload object, not a copy.
func podSpec(u *unstructured.Unstructured) (map[string]any, bool) {
	path, ok := podSpecPaths[u.GroupVersionKind().GroupKind()]
	if !ok {
		return nil, false
	}
	v, found, err := unstructured.NestedFieldNoCopy(u.Object, path...)
	if !found || err != nil {
		return nil, false
	}
	spec, ok := v.(map[string]any)
	return spec, ok
}

// eachContainer calls fn for every container, init container and ephemeral
// container of a workload object.
func eachContainer(u *unstructured.Unstructured, fn func(c map[string]any)) {
	spec, ok := podSpec(u)
	if !ok {
		return
	}
	for _, list := range containerLists {
		items, _ := spec[list].([]any)
		for _, item := range items {
			if c, ok := item.(map[string]any); ok {
				fn(c)
			}
		}
	}
}

// replace rewrites the container images of one object in place.
func (r *imageReplacer) replace(u *unstructured.Unstructured) {
	id := manifest.ID(u)
	eachContainer(u, func(c map[string]any) { r.replaceContainer(id, c) })
}

func (r *imageReplacer) replaceContainer(id string, c map[string]any) {
	image, ok := c["image"].(string)
	if !ok || image == "" {
		return
	}
	name, _ := c["name"].(string)
	use := ImageUse{Object: id, Container: name, Image: image}
	b, ok := r.lookup(image)
	if !ok {
		r.report.External = append(r.report.External, use)
		return
	}
	r.used[b.ImageName] = true
	use.ImageName = b.ImageName
	if hasDigest(image) && image != b.Tag {
		r.report.KeptDigest = append(r.report.KeptDigest, use)
		return
	}
	use.Pinned = b.Tag
	c["image"] = b.Tag
	r.report.Replaced = append(r.report.Replaced, use)
}

// collect records the images of one object without changing them.
func (r *imageReplacer) collect(u *unstructured.Unstructured) {
	id := manifest.ID(u)
	eachContainer(u, func(c map[string]any) {
		if image, ok := c["image"].(string); ok && image != "" {
			name, _ := c["name"].(string)
			r.report.External = append(r.report.External, ImageUse{Object: id, Container: name, Image: image})
		}
	})
}

func (r *imageReplacer) finish() ImageReport {
	for name := range r.builds {
		if !r.used[name] {
			r.report.UnusedBuilds = append(r.report.UnusedBuilds, name)
		}
	}
	sort.Strings(r.report.UnusedBuilds)
	return r.report
}

// missingProjectImages returns an error naming every image that the project
// builds (projectImages) and the manifests use, but that has no build.
func missingProjectImages(report ImageReport, projectImages []string) error {
	project := map[string]bool{}
	for _, p := range projectImages {
		project[p] = true
	}
	var missing []string
	seen := map[string]bool{}
	for _, u := range report.External {
		repo := artifact.Repository(u.Image)
		if !project[repo] || seen[repo] {
			continue
		}
		seen[repo] = true
		missing = append(missing, fmt.Sprintf("%s (%s, container %s)", repo, u.Object, u.Container))
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("no build for image %s, which this project builds (build.artifacts) and the manifests use: pass an artifacts file that has it with -a, or -i NAME=REF, or --digest-source=none to keep the references as written",
		strings.Join(missing, ", "))
}

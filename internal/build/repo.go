package build

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/skiff-dev/skiff/internal/build/ko"
)

const maxImageLength = 255

var (
	escapeImage = regexp.MustCompile(`[/._:@]`)
	// multiLevelPrefix matches a GCR or Artifact Registry repository with a
	// project id, the only registries Skaffold trusts with nested paths.
	multiLevelPrefix = regexp.MustCompile(`^[a-zA-Z0-9.-]+(:[0-9]+)?/[a-z][a-z0-9-]{4,28}[a-z0-9]/?`)
)

// DefaultRepoImage rewrites an image name into defaultRepo the way Skaffold
// v2 does: names already under it are kept; on gcr.io and *-docker.pkg.dev
// the path is appended; elsewhere the full name is escaped ('/', '.', ':',
// '@' become '_') and appended, so that different names cannot collide.
func DefaultRepoImage(defaultRepo, image string) string {
	if defaultRepo == "" {
		return image
	}
	if rest, ok := strings.CutPrefix(image, ko.Scheme); ok {
		image = strings.ToLower(rest)
	}
	base, suffix := splitTagDigest(image)
	if strings.HasPrefix(base, defaultRepo) {
		return base + suffix
	}
	defaultPrefix := multiLevelPrefix.FindString(defaultRepo)
	var out string
	if strings.Contains(defaultPrefix, "gcr.io") || strings.Contains(defaultPrefix, "-docker.pkg.dev") {
		if p := multiLevelPrefix.FindString(base); p != "" && p == defaultPrefix {
			out = defaultRepo + "/" + base[len(p):]
		} else {
			out = defaultRepo + "/" + base
		}
	} else {
		out = defaultRepo + "/" + escapeImage.ReplaceAllString(base, "_")
	}
	if len(out) > maxImageLength {
		out = out[:maxImageLength]
	}
	return out + suffix
}

// koImageName applies Skaffold's rule for ko://IMPORTPATH image names:
// the prefix is dropped (and the path lower-cased, as registries need)
// before the default repo is applied, and pushing one needs a default repo
// (pkg/skaffold/build/ko/build.go: "default repo must be set when using
// the 'ko://' prefix and pushing to a registry").
func koImageName(opts Options, image string) (string, error) {
	rest, ok := strings.CutPrefix(image, ko.Scheme)
	if !ok {
		return image, nil
	}
	if opts.DefaultRepo == "" && opts.Push {
		return "", fmt.Errorf("image %s: a ko:// image is pushed under the default repo; set --default-repo (or SKAFFOLD_DEFAULT_REPO), as Skaffold requires", image)
	}
	return strings.ToLower(rest), nil
}

// splitTagDigest splits "repo[:tag][@digest]" into the repository and the
// rest.
func splitTagDigest(image string) (string, string) {
	rest := ""
	if i := strings.Index(image, "@"); i >= 0 {
		image, rest = image[:i], image[i:]
	}
	if i := strings.LastIndex(image, ":"); i >= 0 && !strings.Contains(image[i:], "/") {
		image, rest = image[:i], image[i:]+rest
	}
	return image, rest
}

// CacheRepo is the default registry cache of an image: <repo>/cache.
func CacheRepo(image string) string {
	base, _ := splitTagDigest(image)
	return base + "/cache"
}

package render

import (
	"regexp"
	"strings"

	"github.com/distribution/reference"

	"github.com/skiff-dev/skiff/internal/artifact"
)

// imageRef is an image reference split the way Skaffold splits it for its
// helm template variables: as written, without docker.io normalisation.
type imageRef struct {
	Repo   string // everything before the tag and digest: localhost:5000/app
	Tag    string // 1.0, or empty
	Digest string // sha256:…, or empty
	Domain string // localhost:5000, or empty
}

// parseImageRef splits ref. It is lenient: a reference that does not parse
// is returned whole as Repo, as Skaffold does for templated image fields.
func parseImageRef(ref string) imageRef {
	r, err := reference.Parse(ref)
	if err != nil {
		return imageRef{Repo: artifact.Repository(ref)}
	}
	var out imageRef
	if n, ok := r.(reference.Named); ok {
		out.Repo = n.Name()
		out.Domain = reference.Domain(n)
	} else {
		out.Repo = artifact.Repository(ref)
	}
	if t, ok := r.(reference.Tagged); ok {
		out.Tag = t.Tag()
	}
	if d, ok := r.(reference.Digested); ok {
		out.Digest = d.Digest().String()
	}
	return out
}

// hasDigest reports whether ref is pinned by a digest.
func hasDigest(ref string) bool {
	return strings.Contains(ref, "@")
}

var nonIdentifier = regexp.MustCompile(`[^A-Za-z0-9_]`)

// TemplateSuffix is how an image name appears in helm template variable
// names such as IMAGE_REPO_<suffix>: every character that cannot be part of
// a Go template field name becomes "_". For the characters Skaffold's
// documentation names ("/", "-" and ".") this is exactly Skaffold's rule;
// it also covers ":" (registry ports) so such names stay usable.
func TemplateSuffix(imageName string) string {
	return nonIdentifier.ReplaceAllString(imageName, "_")
}

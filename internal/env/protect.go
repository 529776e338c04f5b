package env

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/skiff-dev/skiff/internal/config"
)

// ErrApprovalRequired is returned when a protected environment needs an
// approval that was not given; the CLI may ask on a terminal and retry.
var ErrApprovalRequired = errors.New("approval required")

// CheckDeploy decides whether ref may be deployed to e. A protected
// environment takes only tags matching requireTag (a glob such as "v*", or a
// semver range such as ">=1.0.0 <2" or "^1.2"), and with approval: required
// only when approved is true.
func CheckDeploy(e config.Environment, ref Ref, approved bool) error {
	if !e.Protected {
		if e.Approval == "required" && !approved {
			return fmt.Errorf("environment %s: %w; pass --approve", e.Name, ErrApprovalRequired)
		}
		return nil
	}
	if !ref.Tag {
		what := "no ref"
		if ref.Name != "" {
			what = fmt.Sprintf("ref %q, which is not a tag", ref.Name)
		}
		return fmt.Errorf("environment %s is protected: it is deployed only from tags, and this is %s; deploy a tag (--ref vX.Y.Z or CI_COMMIT_TAG)", e.Name, what)
	}
	if e.RequireTag != "" {
		ok, err := TagMatches(e.RequireTag, ref.Name)
		if err != nil {
			return fmt.Errorf("environment %s: requireTag: %w", e.Name, err)
		}
		if !ok {
			return fmt.Errorf("environment %s is protected: tag %q does not match requireTag %q", e.Name, ref.Name, e.RequireTag)
		}
	}
	if e.Approval == "required" && !approved {
		return fmt.Errorf("environment %s is protected: %w for tag %s; pass --approve", e.Name, ErrApprovalRequired, ref.Name)
	}
	return nil
}

// TagMatches matches a tag against a glob or a semver range. A pattern with
// any of "<>=^~", a space, a comma or "||" is a semver range; a tag with a
// leading "v" is compared as the version after it.
func TagMatches(pattern, tag string) (bool, error) {
	if strings.ContainsAny(pattern, "<>=^~ ,") || strings.Contains(pattern, "||") {
		c, err := semver.NewConstraint(pattern)
		if err != nil {
			return false, fmt.Errorf("%q is not a semver range: %v", pattern, err)
		}
		v, err := semver.NewVersion(strings.TrimPrefix(tag, "v"))
		if err != nil {
			return false, nil // not a version: cannot be in the range
		}
		return c.Check(v), nil
	}
	ok, err := path.Match(pattern, tag)
	if err != nil {
		return false, fmt.Errorf("%q is not a valid glob: %v", pattern, err)
	}
	return ok, nil
}

// CheckRelease decides whether a release may be deployed to e: for a
// protected environment, the tag that was asked for (requested: the tag of
// the --release reference, else the ref being deployed, e.g. CI_COMMIT_TAG)
// and the tag the release's metadata declares must both pass CheckDeploy. A
// release's metadata is written by whoever pushed it, so it alone proves
// nothing; a tag pushed again points at another artifact, so the request
// alone is not enough either.
func CheckRelease(e config.Environment, requested, released Ref, approved bool) error {
	if !e.Protected {
		return CheckDeploy(e, released, approved)
	}
	if !requested.Tag {
		return fmt.Errorf("environment %s is protected: name the release by its tag (--release REPOSITORY:TAG) or deploy from a tag (--ref refs/tags/TAG, CI_COMMIT_TAG); a release by digest alone says no requested tag", e.Name)
	}
	if err := CheckDeploy(e, requested, true); err != nil {
		return fmt.Errorf("requested tag: %w", err)
	}
	if err := CheckDeploy(e, released, approved); err != nil {
		if errors.Is(err, ErrApprovalRequired) {
			return err
		}
		return fmt.Errorf("the release's metadata: %w", err)
	}
	return nil
}

// ReferenceTag is the tag of an image reference (repository:tag or
// repository:tag@digest), "" when it names none.
func ReferenceTag(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	slash := strings.LastIndex(ref, "/")
	if i := strings.LastIndex(ref, ":"); i > slash {
		return ref[i+1:]
	}
	return ""
}

package env

import (
	"fmt"
	"strconv"
	"strings"
)

// The variables of a deploy's dotenv report (skiff env deploy --dotenv).
// The generated pipelines read them: GitLab takes the environment URL from
// DotenvURL in the job's dotenv report, GitHub from the deploy step's
// output of the same name.
const (
	DotenvEnvironment = "SKIFF_ENVIRONMENT"
	DotenvNamespace   = "SKIFF_NAMESPACE"
	DotenvURL         = "SKIFF_URL"
	DotenvRevision    = "SKIFF_REVISION"
	DotenvRef         = "SKIFF_REF"
	DotenvCommit      = "SKIFF_COMMIT"
	// DotenvImages lists the deployed images, comma-separated, each as the
	// manifests run it (repository:tag@sha256:digest).
	DotenvImages = "SKIFF_IMAGES"
	// DotenvRelease is the release deployed, by digest, when there is one.
	DotenvRelease = "SKIFF_RELEASE"
)

// Dotenv is what a deploy did as KEY=VALUE lines: the format of GitLab's
// dotenv reports and of GitHub's $GITHUB_OUTPUT. Values never hold a
// newline; empty values are left out.
func (r *DeployResult) Dotenv() []byte {
	var b strings.Builder
	put := func(k, v string) {
		if v = strings.Join(strings.Fields(v), " "); v != "" {
			fmt.Fprintf(&b, "%s=%s\n", k, v)
		}
	}
	if t := r.Target; t != nil {
		put(DotenvEnvironment, t.Environment.Name)
		put(DotenvNamespace, t.Namespace)
		put(DotenvURL, t.URL)
	}
	if r.Apply != nil && r.Apply.Revision > 0 {
		put(DotenvRevision, strconv.Itoa(r.Apply.Revision))
	}
	put(DotenvRef, r.Ref.Name)
	put(DotenvCommit, r.Ref.Commit)
	put(DotenvImages, strings.Join(r.Images, ","))
	if r.Release != nil {
		put(DotenvRelease, r.Release.Ref.String())
	}
	return []byte(b.String())
}

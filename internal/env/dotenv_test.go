package env

import (
	"testing"

	"github.com/joho/godotenv"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/pipeline"
)

// The generated pipelines name the URL variable without importing env.
func TestDotenvURLIsThePipelines(t *testing.T) {
	if DotenvURL != pipeline.DotenvURL {
		t.Fatalf("env.DotenvURL %q, pipeline.DotenvURL %q", DotenvURL, pipeline.DotenvURL)
	}
}

// Dotenv's lines read back, with the parser of the format GitLab follows, as
// what was deployed.
func TestDotenvRoundTrip(t *testing.T) {
	r := &DeployResult{
		Target: &Target{Environment: config.Environment{Name: "review"}, Namespace: "myapp-feature-login-page-0a1b2c3d", URL: "https://feature-login-page-0a1b2c3d.review.example.com"},
		Ref:    Ref{Name: "feature/Login_Page", Commit: "0123456789abcdef"},
		Apply:  &apply.Result{Revision: 3},
		Images: []string{"r/a:t@sha256:aa", "r/b:t@sha256:bb"},
	}
	got, err := godotenv.UnmarshalBytes(r.Dotenv())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		DotenvEnvironment: "review", DotenvNamespace: r.Target.Namespace, DotenvURL: r.Target.URL,
		DotenvRevision: "3", DotenvRef: "feature/Login_Page", DotenvCommit: "0123456789abcdef",
		DotenvImages: "r/a:t@sha256:aa,r/b:t@sha256:bb",
	}
	if len(got) != len(want) {
		t.Errorf("dotenv %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

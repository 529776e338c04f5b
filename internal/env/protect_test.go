package env

import (
	"errors"
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/config"
)

func TestCheckDeploy(t *testing.T) {
	prod := config.Environment{Name: "production", Protected: true, RequireTag: "v*", Approval: "required"}
	semverProd := config.Environment{Name: "production", Protected: true, RequireTag: ">=1.0.0 <2.0.0"}
	tests := []struct {
		name     string
		env      config.Environment
		ref      Ref
		approved bool
		err      string
	}{
		{"branch refused", prod, Ref{Name: "main"}, true, "deployed only from tags"},
		{"no ref refused", prod, Ref{}, true, "this is no ref"},
		{"tag without approval", prod, Ref{Name: "v1.0.0", Tag: true}, false, "approval required"},
		{"tag not matching", prod, Ref{Name: "release-1", Tag: true}, true, `does not match requireTag "v*"`},
		{"tag with approval", prod, Ref{Name: "v1.0.0", Tag: true}, true, ""},
		{"semver in range", semverProd, Ref{Name: "v1.4.2", Tag: true}, false, ""},
		{"semver out of range", semverProd, Ref{Name: "v2.0.0", Tag: true}, false, "does not match"},
		{"semver not a version", semverProd, Ref{Name: "nightly", Tag: true}, false, "does not match"},
		{"unprotected branch", config.Environment{Name: "review", Dynamic: true}, Ref{Name: "feature/x"}, false, ""},
		{"unprotected needs approval", config.Environment{Name: "staging", Approval: "required"}, Ref{Name: "main"}, false, "approval required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckDeploy(tt.env, tt.ref, tt.approved)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
			if strings.Contains(tt.err, "approval") && !errors.Is(err, ErrApprovalRequired) {
				t.Errorf("error %v is not ErrApprovalRequired", err)
			}
		})
	}
}

func TestTagMatchesBadPatterns(t *testing.T) {
	if _, err := TagMatches(">=x.y", "v1"); err == nil {
		t.Error("a bad semver range must be an error")
	}
	if _, err := TagMatches("v[", "v1"); err == nil {
		t.Error("a bad glob must be an error")
	}
}

// A release to a protected environment passes only when the tag asked for
// and the tag its metadata declares both match requireTag.
func TestCheckRelease(t *testing.T) {
	prod := config.Environment{Name: "production", Protected: true, RequireTag: "v*"}
	tag := func(n string) Ref { return Ref{Name: n, Tag: true} }
	tests := []struct {
		name                string
		requested, released Ref
		err                 string
	}{
		{"both match", tag("v1.0.0"), tag("v1.0.0"), ""},
		{"requested does not match", tag("evil"), tag("v1.0.0"), `requested tag: environment production is protected: tag "evil" does not match`},
		{"metadata does not match", tag("v9.9.9"), tag("evil"), `the release's metadata: environment production is protected: tag "evil" does not match`},
		{"no requested tag", Ref{}, tag("v1.0.0"), "name the release by its tag"},
		{"a branch is no requested tag", Ref{Name: "main"}, tag("v1.0.0"), "name the release by its tag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckRelease(prod, tt.requested, tt.released, true)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
	if err := CheckRelease(config.Environment{Name: "staging"}, Ref{}, tag("v1"), false); err != nil {
		t.Errorf("an unprotected environment takes a release by digest: %v", err)
	}
	for ref, want := range map[string]string{
		"registry:5000/shop/releases:v1.0.0":        "v1.0.0",
		"registry:5000/shop/releases@sha256:abc":    "",
		"registry:5000/shop/releases:v2@sha256:abc": "v2",
		"registry:5000/shop/releases":               "",
		"localhost/releases:v1":                     "v1",
	} {
		if got := ReferenceTag(ref); got != want {
			t.Errorf("ReferenceTag(%q) = %q, want %q", ref, got, want)
		}
	}
}

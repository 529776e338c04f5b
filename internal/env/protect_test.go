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

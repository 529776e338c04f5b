package local

import (
	"strings"
	"testing"
)

func TestGitLabRefSlug(t *testing.T) {
	tests := []struct{ in, want string }{
		{"main", "main"},
		{"feature/Login_Page", "feature-login-page"},
		{"v1.2.0", "v1-2-0"},
		{"--x--", "x"},
		{strings.Repeat("a", 70), strings.Repeat("a", 63)},
		{strings.Repeat("a", 62) + "/b", strings.Repeat("a", 62)},
	}
	for _, tt := range tests {
		if got := gitlabRefSlug(tt.in); got != tt.want {
			t.Errorf("gitlabRefSlug(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

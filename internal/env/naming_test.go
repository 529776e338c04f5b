package env

import (
	"strings"
	"testing"
)

func TestDNSLabel(t *testing.T) {
	long := "myapp-review-" + strings.Repeat("very-long-branch-name-", 5)
	tests := []struct {
		in   string
		keep bool
	}{
		{"myapp-review-main", true},
		{"myapp-review-feature/login", false},
		{"MyApp-Review", false},
		{long, false},
		{"-leading", false},
		{"trailing-", false},
		{"ünïcödé-branch", false},
		{"🚀🚀🚀", false},
		{"a..b", false},
		{"$(rm -rf /);`id`", false},
		{"x", true},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
	}
	for _, tt := range tests {
		got := DNSLabel(tt.in)
		if !dnsLabel.MatchString(got) || len(got) > 63 {
			t.Errorf("DNSLabel(%q) = %q: not a DNS-1123 label of ≤63 characters", tt.in, got)
		}
		if tt.keep && got != tt.in {
			t.Errorf("DNSLabel(%q) = %q: a valid label must be kept", tt.in, got)
		}
		if DNSLabel(tt.in) != got {
			t.Errorf("DNSLabel(%q) is not deterministic", tt.in)
		}
	}
}

func TestNamespaceDistinctRefs(t *testing.T) {
	refs := []string{
		"feature/login", "feature-login", "Feature/Login", "feature_login",
		"release/2024/" + strings.Repeat("x", 80) + "-a",
		"release/2024/" + strings.Repeat("x", 80) + "-b",
		"fix/ünicode", "fix/unicode", "fix/ûnicode",
		"main",
	}
	seen := map[string]string{}
	for _, ref := range refs {
		ns, err := NamespaceName("{{.App}}-{{.RefSlug}}", true, TemplateData{App: "myapp", Name: "review", Ref: ref})
		if err != nil {
			t.Fatal(err)
		}
		if prev, dup := seen[ns]; dup {
			t.Errorf("refs %q and %q both give namespace %q", prev, ref, ns)
		}
		seen[ns] = ref
		again, _ := NamespaceName("{{.App}}-{{.RefSlug}}", true, TemplateData{App: "myapp", Name: "review", Ref: ref})
		if again != ns {
			t.Errorf("ref %q: namespace %q then %q; a re-push must reuse its namespace", ref, ns, again)
		}
	}
}

func TestNamespaceSlugTemplatesUseRefNotSlugForHash(t *testing.T) {
	// {{.RefSlug}} alone makes "feature/login" and "feature-login" equal text;
	// templates that use {{.Ref}} are hashed on the raw ref and stay distinct.
	a, _ := NamespaceName("{{.App}}-{{.Ref}}", true, TemplateData{App: "app", Ref: "feature/login"})
	b, _ := NamespaceName("{{.App}}-{{.Ref}}", true, TemplateData{App: "app", Ref: "feature-login"})
	if a == b {
		t.Errorf("distinct refs gave the same namespace %q", a)
	}
}

func TestNamespaceDefaultsAndErrors(t *testing.T) {
	got, err := NamespaceName("", false, TemplateData{App: "shop", Name: "staging"})
	if err != nil || got != "shop-staging" {
		t.Errorf("default static namespace = %q, %v", got, err)
	}
	got, err = NamespaceName("", true, TemplateData{App: "shop", Name: "review", Ref: "feature-x"})
	if err != nil || got != "shop-review-feature-x" {
		t.Errorf("default dynamic namespace = %q, %v", got, err)
	}
	if _, err := NamespaceName("{{.Nope}}", true, TemplateData{}); err == nil {
		t.Error("unknown template field must be an error")
	}
	if _, err := NamespaceName("{{.MergeRequest}}", true, TemplateData{}); err == nil {
		t.Error("an empty namespace must be an error")
	}
}

func TestConfinementPolicyNameIsInjective(t *testing.T) {
	a, b := ConfinementPolicyName("shop-review", "x"), ConfinementPolicyName("shop", "review-x")
	if a == b {
		t.Fatalf("both pairs give %s", a)
	}
	long := ConfinementPolicyName(strings.Repeat("a", 60), strings.Repeat("b", 60))
	if len(long) > 63 || !dnsLabel.MatchString(long) || long == ConfinementPolicyName(strings.Repeat("a", 60), strings.Repeat("b", 59)) {
		t.Errorf("long names: %q", long)
	}
}

package render

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/chart/loader"
)

// TestHelmManifestGolden pins the release manifest and hooks, byte for byte,
// that renderChart gives for charts exercising what `helm template` does:
// capabilities, --is-upgrade, subcharts with alias and condition, library
// subcharts, CRDs from subcharts, NOTES.txt, empty templates and hooks.
// The golden files were written by helm's own action.Install (ClientOnly),
// before skiff rendered with pkg/engine directly.
func TestHelmManifestGolden(t *testing.T) {
	tests := []struct {
		name, chart string
		flags       []string
		vals        map[string]any
	}{
		{"helm-caps-default", "testdata/helm/caps", nil, nil},
		{"helm-caps-flags", "testdata/helm/caps", []string{
			"--is-upgrade", "--kube-version=1.29.3", "--api-versions=monitoring.coreos.com/v1", "-a", "apps/v1/Deployment", "--skip-crds",
		}, map[string]any{"replicas": 5, "extra": map[string]any{"enabled": true}, "global": map[string]any{"region": "eu"}}},
		{"helm-caps-no-hooks", "testdata/helm/caps", []string{"--no-hooks"}, nil},
		{"helm-web-default", "testdata/charts/web", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flags, err := parseHelmFlags(tt.flags)
			if err != nil {
				t.Fatal(err)
			}
			ch, err := loader.Load(tt.chart)
			if err != nil {
				t.Fatal(err)
			}
			vals := tt.vals
			if vals == nil {
				vals = map[string]any{}
			}
			text, hooks, err := renderChart(context.Background(), ch, vals, "rel", "shop", flags)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			b.WriteString(text)
			for _, h := range hooks {
				fmt.Fprintf(&b, "=== hook %s %s kind=%s events=%v weight=%d delete=%v\n%s\n", h.Name, h.Path, h.Kind, h.Events, h.Weight, h.DeletePolicies, h.Manifest)
			}
			got := b.String()
			golden := filepath.Join("testdata", "golden", tt.name+".txt")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(string(want), got); d != "" {
				t.Errorf("manifest differs from %s (-want +got):\n%s", golden, d)
			}
		})
	}
}

func TestHelmRenderRefuses(t *testing.T) {
	tests := []struct {
		name    string
		rel     HelmRelease
		wantErr string
	}{
		{"library chart", HelmRelease{Name: "lib", ChartPath: "testdata/helm/library"},
			"helm release lib: rendering chart library: library charts are not installable"},
		{"kubeVersion constraint", HelmRelease{Name: "old", ChartPath: "testdata/helm/oldkube"},
			"helm release old: rendering chart oldkube: chart requires kubeVersion: <1.10.0 which is incompatible with Kubernetes v1."},
		{"release name", HelmRelease{Name: "Not_Valid", ChartPath: "testdata/charts/web"},
			`helm release Not_Valid: rendering chart web: release name "Not_Valid": invalid release name`},
		{"schema", HelmRelease{Name: "caps", ChartPath: "testdata/helm/caps", SetValues: map[string]string{"replicas": "0"}},
			"helm release caps: rendering chart caps: values don't meet the specifications of the schema(s) in the following chart(s): caps: - at '/replicas': minimum: got 0, want 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := renderHelm(context.Background(), tt.rel, helmContext{})
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one starting %q", err, tt.wantErr)
			}
		})
	}
	// --skip-schema-validation renders the same values.
	rel := HelmRelease{Name: "caps", ChartPath: "testdata/helm/caps", SetValues: map[string]string{"replicas": "0"}, Flags: []string{"--skip-schema-validation"}}
	if _, _, err := renderHelm(context.Background(), rel, helmContext{}); err != nil {
		t.Errorf("with --skip-schema-validation: %v", err)
	}
}

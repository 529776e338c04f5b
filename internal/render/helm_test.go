package render

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/skiff-dev/skiff/internal/artifact"
)

func TestImageTemplateVars(t *testing.T) {
	builds := []artifact.Build{
		{ImageName: "skiff.test/web", Tag: "localhost:5000/web:1.0@" + digestA},
		{ImageName: "api", Tag: "api:dev"},
	}
	got := ImageTemplateVars(builds)
	want := map[string]string{
		// first build: no index suffix
		"IMAGE_NAME":            "skiff.test/web",
		"IMAGE_REPO":            "localhost:5000/web",
		"IMAGE_TAG":             "1.0",
		"IMAGE_DIGEST":          digestA,
		"IMAGE_DOMAIN":          "localhost:5000",
		"IMAGE_REPO_NO_DOMAIN":  "web",
		"IMAGE_FULLY_QUALIFIED": "localhost:5000/web:1.0@" + digestA,
		"DIGEST":                "localhost:5000/web:1.0@" + digestA,
		"DIGEST_ALGO":           "localhost",
		"DIGEST_HEX":            "5000/web:1.0@" + digestA,
		// by name: "/", "-" and "." become "_"
		"IMAGE_REPO_skiff_test_web":            "localhost:5000/web",
		"IMAGE_TAG_skiff_test_web":             "1.0",
		"IMAGE_DIGEST_skiff_test_web":          digestA,
		"IMAGE_REPO_NO_DOMAIN_skiff_test_web":  "web",
		"IMAGE_FULLY_QUALIFIED_skiff_test_web": "localhost:5000/web:1.0@" + digestA,
		// second build: index 2
		"IMAGE_NAME2":            "api",
		"IMAGE_REPO2":            "api",
		"IMAGE_TAG2":             "dev",
		"IMAGE_DIGEST2":          "",
		"IMAGE_DOMAIN2":          "",
		"IMAGE_REPO_NO_DOMAIN2":  "api",
		"IMAGE_FULLY_QUALIFIED2": "api:dev",
		"IMAGE_TAG_api":          "dev",
		"IMAGE_DIGEST_api":       "",
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %q (defined %v), want %q", k, g, ok, v)
		}
	}
}

func TestTemplateSuffix(t *testing.T) {
	for in, want := range map[string]string{
		"web":                          "web",
		"gcr.io/k8s-skaffold/my-app":   "gcr_io_k8s_skaffold_my_app",
		"localhost:5000/team/app_name": "localhost_5000_team_app_name",
	} {
		if got := TemplateSuffix(in); got != want {
			t.Errorf("TemplateSuffix(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExpandTemplate(t *testing.T) {
	builds := []artifact.Build{{ImageName: "web", Tag: "r/web:1@" + digestA}}
	data := ImageTemplateVars(builds)
	data["REGION"] = "eu-west"
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "plain", want: "plain"},
		{in: "{{.IMAGE_REPO_web}}:{{.IMAGE_TAG_web}}", want: "r/web:1"},
		{in: `{{default "us" .ZONE}}-{{.REGION | upper}}`, want: "us-EU-WEST"},
		{in: "{{.UNSET}}", want: ""},
		{in: `{{if .IMAGE_TAG_web}}{{.IMAGE_DIGEST_web}}{{end}}`, want: digestA},
		{in: "{{.IMAGE_REPO_api}}", wantErr: "{{.IMAGE_REPO_api}} has no value: the builds have only web (_web)"},
		{in: "{{.IMAGE_FULLY_QUALIFIED2}}", wantErr: "{{.IMAGE_FULLY_QUALIFIED2}} has no value"},
		{in: "{{.IMAGE_REPO", wantErr: "unclosed action"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := expandTemplate(tt.in, data, builds)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("= %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func helmObjects(t *testing.T, rel HelmRelease, builds []artifact.Build, ns string) map[string]string {
	t.Helper()
	items, _, err := renderHelm(context.Background(), rel, helmContext{builds: builds, namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, it := range items {
		out[it.obj.GetKind()+"/"+it.obj.GetName()] = it.obj.Origin.File + " ns=" + it.defaultNS
	}
	return out
}

func TestHelmRender(t *testing.T) {
	base := HelmRelease{Name: "web", ChartPath: "testdata/charts/web", Namespace: "shop"}
	tests := []struct {
		name string
		rel  func(HelmRelease) HelmRelease
		ns   string
		want []string
	}{
		{"defaults include CRDs, hooks and tests", func(r HelmRelease) HelmRelease { return r }, "", []string{
			"ConfigMap/web-config web/templates/configmap.yaml ns=shop",
			"CustomResourceDefinition/widgets.skiff.test web/crds/widgets.yaml ns=shop",
			"Deployment/web web/templates/deployment.yaml ns=shop",
			"Job/web-migrate web/templates/migrate-hook.yaml ns=shop",
			"Pod/web-test web/templates/tests/test-connection.yaml ns=shop",
			"Widget/web-widget web/templates/widget.yaml ns=shop",
		}},
		{"skipTests, createNamespace, -n wins", func(r HelmRelease) HelmRelease {
			r.SkipTests, r.CreateNamespace = true, true
			return r
		}, "myapp", []string{
			"ConfigMap/web-config web/templates/configmap.yaml ns=myapp",
			"CustomResourceDefinition/widgets.skiff.test web/crds/widgets.yaml ns=myapp",
			"Deployment/web web/templates/deployment.yaml ns=myapp",
			"Job/web-migrate web/templates/migrate-hook.yaml ns=myapp",
			"Namespace/myapp  ns=",
			"Widget/web-widget web/templates/widget.yaml ns=myapp",
		}},
		{"flags --skip-crds --no-hooks", func(r HelmRelease) HelmRelease {
			r.Flags = []string{"--skip-crds", "--no-hooks"}
			return r
		}, "", []string{
			"ConfigMap/web-config web/templates/configmap.yaml ns=shop",
			"Deployment/web web/templates/deployment.yaml ns=shop",
			"Widget/web-widget web/templates/widget.yaml ns=shop",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := helmObjects(t, tt.rel(base), nil, tt.ns)
			var got []string
			for k, v := range objs {
				got = append(got, k+" "+v)
			}
			sort.Strings(got)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("objects (-want +got):\n%s", d)
			}
		})
	}
}

func TestHelmValuesPrecedence(t *testing.T) {
	rel := HelmRelease{
		Name:        "web",
		ChartPath:   "testdata/charts/web",
		Overrides:   map[string]any{"greeting": "from overrides", "replicas": 7, "extra": map[string]any{"a": "overrides", "b": "overrides"}},
		ValuesFiles: []string{"testdata/values/prod.yaml"},
		SetValues:   map[string]string{"extra.b": "setValues", "extra.c": "setValues"},
		SetValueTemplates: map[string]string{
			"extra.c":    "setValueTemplates",
			"image.tag":  "{{.IMAGE_TAG}}@{{.IMAGE_DIGEST}}", // no digest: Skaffold trims the "@"
			"{{.KEY}}.d": "templated key",
		},
		SetFiles: map[string]string{"extra.motd": "testdata/values/motd.txt"},
	}
	builds := []artifact.Build{{ImageName: "skiff.test/chart-web", Tag: "r/chart-web:2.0"}}
	data := ImageTemplateVars(builds)
	data["KEY"] = "extra"
	vals, err := helmValues(rel, data, builds)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"greeting": "hello from prod", // the values file beats overrides
		"replicas": float64(3),
		"image":    map[string]any{"tag": "2.0"},
		"extra": map[string]any{
			"a": "overrides", "b": "setValues", "c": "setValueTemplates", "d": "templated key",
			"tier": "gold", "motd": "motd from a file\n",
		},
	}
	if d := cmp.Diff(want, vals); d != "" {
		t.Errorf("values (-want +got):\n%s", d)
	}
}

func TestHelmFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{args: []string{"--skip-crds", "--kube-version=1.31", "--api-versions", "monitoring.coreos.com/v1", "--debug", "--kube-context", "x"}},
		{args: []string{"--include-crds=false"}},
		{args: []string{"--atomic"}, wantErr: "unknown flag: --atomic; skiff supports --skip-crds"},
		{args: []string{"--kube-version", "banana"}, wantErr: `--kube-version "banana"`},
		{args: []string{"chart"}, wantErr: `unexpected argument "chart"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := parseHelmFlags(tt.args)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

package render

import (
	"context"
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/artifact"
)

// TestHostileInputs: every bad input gives one line naming what is wrong
// and where.
func TestHostileInputs(t *testing.T) {
	web := func(mod func(*HelmRelease)) Options {
		r := HelmRelease{Name: "web", ChartPath: "testdata/charts/web"}
		mod(&r)
		return Options{Helm: []HelmRelease{r}}
	}
	tests := []struct {
		name string
		opts Options
		want string // the error starts with or contains this
	}{
		{"malformed YAML names file and line",
			Options{RawYAML: []string{"testdata/raw-bad/broken.yaml"}},
			"testdata/raw-bad/broken.yaml:11: malformed YAML: mapping values are not allowed in this context"},
		{"rawYaml glob matching nothing",
			Options{RawYAML: []string{"testdata/raw/*.yml"}},
			"rawYaml testdata/raw/*.yml matches no file"},
		{"rawYaml missing file",
			Options{RawYAML: []string{"testdata/raw/nope.yaml"}},
			"rawYaml testdata/raw/nope.yaml matches no file"},
		{"rawYaml glob matching no manifest",
			Options{RawYAML: []string{"testdata/raw/nested/*.md"}},
			"matches no .yaml, .yml or .json file"},
		{"rawYaml URL",
			Options{RawYAML: []string{"https://example.com/m.yaml"}},
			"remote manifests are not supported"},
		{"missing kustomization path",
			Options{Kustomize: []KustomizeSource{{Path: "testdata/kustomize/overlays/qa"}}},
			"kustomize testdata/kustomize/overlays/qa: no such directory; fix manifests.kustomize.paths"},
		{"directory without kustomization",
			Options{Kustomize: []KustomizeSource{{Path: "testdata/raw"}}},
			"kustomize testdata/raw: no kustomization.yaml"},
		{"kustomize unknown build arg",
			Options{Kustomize: []KustomizeSource{{Path: "testdata/kustomize/base", BuildArgs: []string{"--frobnicate"}}}},
			"kustomize testdata/kustomize/base: buildArgs: unknown flag: --frobnicate"},
		{"kustomization referencing a missing file",
			Options{Kustomize: []KustomizeSource{{Path: "testdata/kustomize-bad"}}},
			"kustomize testdata/kustomize-bad: accumulating resources: accumulation err='accumulating resources from 'deployment.yaml'"},
		{"image the project builds but the builds lack",
			Options{RawYAML: []string{"testdata/raw/app.yaml"}, ProjectImages: []string{"skiff.test/api"},
				Builds: []artifact.Build{{ImageName: "skiff.test/web", Tag: "r/web:1"}}},
			"no build for image skiff.test/api (Deployment.apps api, container api), which this project builds"},
		{"helm chart path missing",
			web(func(r *HelmRelease) { r.ChartPath = "testdata/charts/nope" }),
			"helm release web: chartPath testdata/charts/nope: no such chart directory"},
		{"helm chart with a template error",
			Options{Helm: []HelmRelease{{Name: "b", ChartPath: "testdata/charts/broken"}}},
			"helm release b: rendering chart broken: parse error at (broken/templates/cm.yaml:5): unclosed action"},
		{"helm setValueTemplates needing an image not built",
			web(func(r *HelmRelease) {
				r.SetValueTemplates = map[string]string{"image.tag": "{{.IMAGE_TAG_skiff_test_web}}"}
			}),
			"helm release web: setValueTemplates image.tag: {{.IMAGE_TAG_skiff_test_web}} has no value: no builds were given"},
		{"helm values file missing",
			web(func(r *HelmRelease) { r.ValuesFiles = []string{"testdata/values/nope.yaml"} }),
			"helm release web: valuesFiles: open testdata/values/nope.yaml: no such file or directory"},
		{"helm unsupported field",
			web(func(r *HelmRelease) { r.UseHelmSecrets = true }),
			"helm release web: useHelmSecrets is not supported"},
		{"helm unknown flag",
			web(func(r *HelmRelease) { r.Flags = []string{"--wait"} }),
			"helm release web: flags: unknown flag: --wait"},
		{"helm both chart sources",
			web(func(r *HelmRelease) { r.RemoteChart = "oci://localhost:1/x" }),
			"helm release web: set only one of chartPath and remoteChart"},
		{"same object from two sources",
			Options{RawYAML: []string{"testdata/raw/app.yaml", "testdata/raw-dup/app-copy.yaml"}},
			"Deployment.apps api is defined twice, by testdata/raw/app.yaml:2 and by testdata/raw-dup/app-copy.yaml:1"},
		{"-n against a namespace the manifests set",
			Options{Kustomize: []KustomizeSource{{Path: "testdata/kustomize/overlays/production"}}, Namespace: "myapp"},
			"-n myapp conflicts with the namespace the manifests set on ServiceAccount shop-prod/prod-web (from kustomize testdata/kustomize/overlays/production), "},
		{"invalid label",
			Options{Labels: map[string]string{"bad key!": "x"}},
			`label "bad key!": invalid key`},
		{"invalid label value",
			Options{Labels: map[string]string{"ok": "no spaces allowed"}},
			`label ok="no spaces allowed": invalid value`},
		{"unknown digest source",
			Options{DigestSource: "local"},
			`digest source "local" is not supported: use tag, remote or none`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Render(context.Background(), tt.opts)
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error = %q\nwant it to contain %q", msg, tt.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
		})
	}
}

func TestMissingImageIsFineWithDigestNone(t *testing.T) {
	res, err := Render(context.Background(), Options{
		RawYAML: []string{"testdata/raw/app.yaml"}, ProjectImages: []string{"skiff.test/api"}, DigestSource: DigestNone,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images.Replaced) != 0 || len(res.Images.External) != 3 {
		t.Errorf("report = %+v, want 3 external images and nothing replaced", res.Images)
	}
}

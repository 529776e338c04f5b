package render

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-dev/skiff/internal/artifact"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/golden")

const (
	digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	digestC = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
)

// testBuilds are what `skiff build` would have written for the fixtures.
var testBuilds = []artifact.Build{
	{ImageName: "skiff.test/api", Tag: "registry.skiff.test/api:1.0.0@" + digestA},
	{ImageName: "skiff.test/web", Tag: "registry.skiff.test/web:1.0.0@" + digestB},
	{ImageName: "skiff.test/chart-web", Tag: "localhost:5000/chart-web:1.0.0@" + digestC},
}

// mixedOptions renders every kind of source at once.
func mixedOptions() Options {
	return Options{
		RawYAML:   []string{"testdata/raw/*.yaml", "testdata/raw/nested"},
		Kustomize: []KustomizeSource{{Path: "testdata/kustomize/overlays/staging"}},
		Helm: []HelmRelease{{
			Name:        "shop",
			ChartPath:   "testdata/charts/web",
			ValuesFiles: []string{"testdata/values/prod.yaml"},
			SetValues:   map[string]string{"extra.owner": "payments"},
			SetValueTemplates: map[string]string{
				"image.repository": "{{.IMAGE_REPO_skiff_test_chart_web}}",
				"image.tag":        "{{.IMAGE_TAG_skiff_test_chart_web}}@{{.IMAGE_DIGEST_skiff_test_chart_web}}",
				"extra.region":     `{{default "eu" .REGION}}`,
			},
			SetFiles:        map[string]string{"extra.motd": "testdata/values/motd.txt"},
			CreateNamespace: true,
			SkipTests:       true,
		}},
		Builds:        testBuilds,
		ProjectImages: []string{"skiff.test/api", "skiff.test/web", "skiff.test/chart-web"},
		Namespace:     "myapp",
		Labels:        map[string]string{"app.kubernetes.io/part-of": "shop"},
		Env:           map[string]string{"HOME": "/nonexistent"},
	}
}

func renderString(t *testing.T, opts Options) (string, *Result) {
	t.Helper()
	res, err := Render(context.Background(), opts)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	var buf bytes.Buffer
	if err := res.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String(), res
}

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name string
		opts func() Options
	}{
		{"mixed", mixedOptions},
		{"mixed-offline-no-namespace", func() Options {
			o := mixedOptions()
			o.Namespace, o.Labels = "", nil
			o.Helm[0].Namespace = "shop"
			return o
		}},
		{"digest-none", func() Options {
			o := mixedOptions()
			o.DigestSource, o.Builds = DigestNone, nil
			o.Helm[0].SetValueTemplates = nil
			return o
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := renderString(t, tt.opts())
			golden := filepath.Join("testdata", "golden", tt.name+".yaml")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if d := cmp.Diff(string(want), got); d != "" {
				t.Errorf("render differs from %s (-want +got; go test -update rewrites it):\n%s", golden, d)
			}
		})
	}
}

func TestRenderIsByteIdentical(t *testing.T) {
	first, _ := renderString(t, mixedOptions())
	for i := 0; i < 5; i++ {
		again, _ := renderString(t, mixedOptions())
		if again != first {
			t.Fatalf("render %d differs from the first:\n%s", i+2, cmp.Diff(first, again))
		}
	}
}

func TestRenderReport(t *testing.T) {
	_, res := renderString(t, mixedOptions())
	var replaced, kept, external []string
	for _, u := range res.Images.Replaced {
		replaced = append(replaced, u.Object+"/"+u.Container+" "+u.Image+" -> "+u.Pinned)
	}
	for _, u := range res.Images.KeptDigest {
		kept = append(kept, u.Object+"/"+u.Container)
	}
	for _, u := range res.Images.External {
		external = append(external, u.Object+"/"+u.Container+" "+u.Image)
	}
	wantReplaced := []string{
		"Deployment.apps myapp/api/api skiff.test/api:latest -> registry.skiff.test/api:1.0.0@" + digestA,
		"Deployment.apps myapp/api/debug skiff.test/api -> registry.skiff.test/api:1.0.0@" + digestA,
		"Deployment.apps myapp/shop/web localhost:5000/chart-web:1.0.0@" + digestC + " -> localhost:5000/chart-web:1.0.0@" + digestC,
		"Deployment.apps myapp/staging-web/web skiff.test/web -> registry.skiff.test/web:1.0.0@" + digestB,
		"Job.batch myapp/seed/seed skiff.test/api:latest -> registry.skiff.test/api:1.0.0@" + digestA,
		"Job.batch myapp/shop-migrate/migrate localhost:5000/chart-web:1.0.0@" + digestC + " -> localhost:5000/chart-web:1.0.0@" + digestC,
	}
	if d := cmp.Diff(wantReplaced, replaced); d != "" {
		t.Errorf("replaced (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"Deployment.apps myapp/api/pinned"}, kept); d != "" {
		t.Errorf("kept digest (-want +got):\n%s", d)
	}
	wantExternal := []string{
		"Deployment.apps myapp/staging-web/migrate skiff.test/web-migrate",
		"Deployment.apps myapp/staging-web/proxy docker.io/library/nginx:1.27",
		"CronJob.batch myapp/staging-report/report skiff.test/worker:nightly",
	}
	if d := cmp.Diff(wantExternal, external); d != "" {
		t.Errorf("external (-want +got):\n%s", d)
	}
	if len(res.Images.UnusedBuilds) != 0 {
		t.Errorf("unused builds = %v, want none", res.Images.UnusedBuilds)
	}
	// kustomize's own deprecation warning comes back as data, not on stderr.
	wantWarnings := []string{"kustomize testdata/kustomize/overlays/staging: Warning: 'commonLabels' is deprecated. Please use 'labels' instead. Run 'kustomize edit fix' to update your Kustomization automatically."}
	if d := cmp.Diff(wantWarnings, res.Warnings); d != "" {
		t.Errorf("warnings (-want +got):\n%s", d)
	}
}

func TestLabelsStayOutOfPodTemplates(t *testing.T) {
	_, res := renderString(t, mixedOptions())
	for _, o := range res.Objects {
		if o.GetLabels()["app.kubernetes.io/part-of"] != "shop" {
			t.Errorf("%s: label not added", o.ID())
		}
		if spec, ok := podSpecPaths[o.GroupKind()]; ok && len(spec) > 1 {
			tmpl := spec[:len(spec)-1]
			labels, _, _ := nestedStringMap(o.Object, append(tmpl, "metadata", "labels")...)
			if _, ok := labels["app.kubernetes.io/part-of"]; ok {
				t.Errorf("%s: label added to the pod template; a per-run label there restarts pods", o.ID())
			}
		}
	}
}

func TestNamespaceScopes(t *testing.T) {
	o := mixedOptions()
	o.Scoper = fakeScoper{{Group: "skiff.test", Kind: "Gadget"}: true} // the CRD in the render wins
	_, res := renderString(t, o)
	got := map[string]string{}
	for _, obj := range res.Objects {
		got[obj.GetKind()+"/"+obj.GetName()] = obj.GetNamespace()
	}
	want := map[string]string{
		"Namespace/myapp": "",
		"CustomResourceDefinition/gadgets.skiff.test": "",
		"CustomResourceDefinition/widgets.skiff.test": "",
		"ClusterRole/api-reader":                      "",
		"Gadget/global-gadget":                        "",
		"Widget/shop-widget":                          "myapp",
		"Deployment/api":                              "myapp",
		"ConfigMap/shop-config":                       "myapp",
		"ConfigMap/staging-web-config-758kt8k87t":     "myapp",
	}
	for k, ns := range want {
		if g, ok := got[k]; !ok || g != ns {
			t.Errorf("%s: namespace %q (present %v), want %q", k, g, ok, ns)
		}
	}
}

func TestUnknownKindOffline(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "m.yaml"), "apiVersion: example.com/v1\nkind: Thing\nmetadata:\n  name: t\n")
	opts := Options{RawYAML: []string{filepath.Join(dir, "m.yaml")}, Namespace: "ns"}
	_, res := renderString(t, opts)
	if res.Objects[0].GetNamespace() != "ns" {
		t.Errorf("unknown kind: namespace %q, want ns", res.Objects[0].GetNamespace())
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "Thing.example.com") {
		t.Errorf("warnings = %q, want one about Thing.example.com", res.Warnings)
	}
	opts.Scoper = fakeScoper{{Group: "example.com", Kind: "Thing"}: false}
	_, res = renderString(t, opts)
	if res.Objects[0].GetNamespace() != "" || len(res.Warnings) != 0 {
		t.Errorf("with a scoper saying cluster-scoped: namespace %q, warnings %q", res.Objects[0].GetNamespace(), res.Warnings)
	}
}

type fakeScoper map[schema.GroupKind]bool

func (f fakeScoper) Namespaced(gk schema.GroupKind) (bool, error) {
	ns, ok := f[gk]
	if !ok {
		return false, &notFound{gk}
	}
	return ns, nil
}

type notFound struct{ gk schema.GroupKind }

func (e *notFound) Error() string { return "no matches for kind " + e.gk.String() }

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func nestedStringMap(obj map[string]any, fields ...string) (map[string]any, bool, error) {
	var cur any = obj
	for _, f := range fields {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false, nil
		}
		cur = m[f]
	}
	m, ok := cur.(map[string]any)
	return m, ok, nil
}

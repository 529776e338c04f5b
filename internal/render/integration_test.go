package render

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"helm.sh/helm/v3/pkg/registry"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/oci/ocitest"
	"github.com/skiff-dev/skiff/internal/testenv"
)

// TestRemoteOCIChart pushes the test chart to the sandbox registry and
// renders it as a remoteChart: by version, by constraint and latest.
func TestRemoteOCIChart(t *testing.T) {
	env := testenv.Require(t)
	data := ocitest.HelmArchive(t, "testdata/charts/web")
	client, err := registry.NewClient(registry.ClientOptPlainHTTP(), registry.ClientOptWriter(&strings.Builder{}))
	if err != nil {
		t.Fatal(err)
	}
	repo := env.Repo(t, "web") // OCI chart references end in the chart's name
	if _, err := client.Push(data, repo+":0.3.0"); err != nil {
		t.Fatalf("pushing the chart: %v", err)
	}

	local := helmObjects(t, HelmRelease{Name: "web", ChartPath: "testdata/charts/web"}, nil, "")
	for _, version := range []string{"0.3.0", "^0.3", ""} {
		t.Run("version "+version, func(t *testing.T) {
			got := helmObjects(t, HelmRelease{Name: "web", RemoteChart: "oci://" + repo, Version: version}, nil, "")
			if d := cmp.Diff(local, got); d != "" {
				t.Errorf("remote chart renders differently from the local one (-local +remote):\n%s", d)
			}
		})
	}
	_, _, err = renderHelm(context.Background(), HelmRelease{Name: "web", RemoteChart: "oci://" + repo, Version: "9.9.9"}, helmContext{})
	if err == nil || !strings.Contains(err.Error(), "helm release web: remoteChart oci://"+repo+": pulling 9.9.9") {
		t.Errorf("missing version: error %v", err)
	}
}

// TestRESTMapperScoper asks the sandbox cluster about a cluster-scoped CRD
// that the render itself does not define.
func TestRESTMapperScoper(t *testing.T) {
	env := testenv.Require(t)
	cfg, err := env.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	dyn := env.Dynamic(t)
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "beacons.render.skiff.test"},
		"spec": map[string]any{
			"group": "render.skiff.test", "scope": "Cluster",
			"names": map[string]any{"kind": "Beacon", "plural": "beacons", "singular": "beacon", "listKind": "BeaconList"},
			"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
		},
	}}
	ctx := t.Context()
	if _, err := dyn.Resource(crdGVR).Create(ctx, crd, metav1.CreateOptions{}); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dyn.Resource(crdGVR).Delete(context.Background(), crd.GetName(), metav1.DeleteOptions{}) })

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "m.yaml"), "apiVersion: render.skiff.test/v1\nkind: Beacon\nmetadata:\n  name: b\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n")
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
		res, err := Render(ctx, Options{RawYAML: []string{filepath.Join(dir, "m.yaml")}, Namespace: "ns", Scoper: RESTMapperScoper{Mapper: mapper}})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, o := range res.Objects {
			got[o.GetKind()] = o.GetNamespace()
		}
		if got["Beacon"] == "" && got["ConfigMap"] == "ns" && len(res.Warnings) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespaces %v, warnings %q: want the cluster-scoped Beacon without one", got, res.Warnings)
		}
		time.Sleep(500 * time.Millisecond) // the CRD is not established yet
	}
}

// TestDigestSourceRemote pins a build given by tag to the digest the
// sandbox registry has for it.
func TestDigestSourceRemote(t *testing.T) {
	env := testenv.Require(t)
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref := env.Repo(t, "app") + ":1.0"
	tag, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "pod.yaml"), "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: app\n    image: app\n")
	opts := Options{
		RawYAML:      []string{filepath.Join(dir, "pod.yaml")},
		Builds:       []artifact.Build{{ImageName: "app", Tag: ref}},
		DigestSource: DigestRemote,
	}
	res, err := Render(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Images.Replaced[0].Pinned, ref+"@"+digest.String(); got != want {
		t.Errorf("pinned %s, want %s", got, want)
	}
	opts.Builds[0].Tag = env.Repo(t, "missing") + ":1.0"
	if _, err := Render(t.Context(), opts); err == nil || !strings.Contains(err.Error(), "image app: resolving the digest of") {
		t.Errorf("missing tag: error %v", err)
	}
}

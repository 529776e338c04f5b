package render

import (
	"bytes"
	"context"
	"github.com/skiff-dev/skiff/internal/testenv"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/manifest"
)

var parityDirs = []string{
	"testdata/kustomize/base",
	"testdata/kustomize/overlays/staging",
	"testdata/kustomize/overlays/production",
	"testdata/kustomize/overlays/dev",
}

// kubectlKustomize is the reference render: `kubectl kustomize DIR`.
func kubectlKustomize(t *testing.T, dir string) map[string]map[string]any {
	t.Helper()
	kubectl := testenv.RequireCommand(t, "kubectl") // the reference render
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(kubectl, "kustomize", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl kustomize %s: %v: %s", dir, err, stderr.String())
	}
	objs, err := manifest.Parse(stdout.Bytes(), "kubectl kustomize "+dir)
	if err != nil {
		t.Fatal(err)
	}
	return byKey(objs)
}

func byKey(objs []manifest.Object) map[string]map[string]any {
	m := map[string]map[string]any{}
	for _, o := range objs {
		m[manifest.Key(o.Unstructured)] = o.Object
	}
	return m
}

// TestKustomizeParity: without images or labels to change, skiff renders
// exactly the objects kubectl kustomize renders.
func TestKustomizeParity(t *testing.T) {
	for _, dir := range parityDirs {
		t.Run(dir, func(t *testing.T) {
			want := kubectlKustomize(t, dir)
			res, err := Render(context.Background(), Options{Kustomize: []KustomizeSource{{Path: dir}}})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, byKey(res.Objects)); d != "" {
				t.Errorf("skiff render differs from kubectl kustomize (-kubectl +skiff):\n%s", d)
			}
		})
	}
}

// TestKustomizeParityWithChanges: with builds, a namespace and labels, the
// only differences from kubectl kustomize are the pinned images, the added
// labels, and namespaces where kustomize set none.
func TestKustomizeParityWithChanges(t *testing.T) {
	builds := []artifact.Build{
		{ImageName: "skiff.test/web", Tag: "registry.skiff.test/web:2.0@" + digestB},
		{ImageName: "skiff.test/worker", Tag: "registry.skiff.test/worker:2.0@" + digestA},
	}
	for _, dir := range parityDirs {
		t.Run(dir, func(t *testing.T) {
			want := kubectlKustomize(t, dir)
			ns := "parity"
			if strings.HasSuffix(dir, "production") {
				ns = "shop-prod" // the overlay sets it; another -n is an error
			}
			res, err := Render(context.Background(), Options{
				Kustomize: []KustomizeSource{{Path: dir}},
				Builds:    builds,
				Namespace: ns,
				Labels:    map[string]string{"skiff.dev/test": "yes"},
			})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]map[string]any{}
			for _, o := range res.Objects {
				labels := o.GetLabels()
				if labels["skiff.dev/test"] != "yes" {
					t.Errorf("%s: label not added", o.ID())
				}
				delete(labels, "skiff.dev/test")
				if len(labels) == 0 {
					unstructured.RemoveNestedField(o.Object, "metadata", "labels")
				} else {
					o.SetLabels(labels)
				}
				if o.GetNamespace() == "parity" {
					o.SetNamespace("")
				}
				eachContainer(o.Unstructured, func(c map[string]any) {
					for _, b := range builds {
						if c["image"] == b.Tag {
							c["image"] = "(pinned " + b.ImageName + ")"
						}
					}
				})
				got[manifest.Key(o.Unstructured)] = o.Object
			}
			for _, o := range want {
				eachContainer(&unstructured.Unstructured{Object: o}, func(c map[string]any) {
					image, _ := c["image"].(string)
					for _, b := range builds {
						if artifact.Repository(image) == b.ImageName && !hasDigest(image) {
							c["image"] = "(pinned " + b.ImageName + ")"
						}
					}
				})
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("differences beyond images, labels and namespaces (-kubectl +skiff):\n%s", d)
			}
		})
	}
}

func TestKustomizeBuildArgs(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{args: nil},
		{args: []string{"--load-restrictor", "LoadRestrictionsNone"}},
		{args: []string{"--load-restrictor=LoadRestrictionsRootOnly", "--enable-helm", "--helm-command=/usr/bin/helm"}},
		{args: []string{"--load_restrictor", "LoadRestrictionsNone"}},
		{args: []string{"--enable-alpha-plugins", "--enable-exec", "--reorder=legacy"}},
		{args: []string{"--load-restrictor", "Everything"}, wantErr: `--load-restrictor "Everything": use LoadRestrictionsRootOnly or LoadRestrictionsNone`},
		{args: []string{"--frobnicate"}, wantErr: "unknown flag: --frobnicate; skiff supports --load-restrictor"},
		{args: []string{"--network"}, wantErr: "--network (container KRM functions are not supported)"},
		{args: []string{"-o", "out.yaml"}, wantErr: "--output (use skiff render -o)"},
		{args: []string{"-e", "FOO=bar"}, wantErr: "--env (container KRM functions are not supported)"},
		{args: []string{"--output=out.yaml"}, wantErr: "--output (use skiff render -o)"},
		{args: []string{"overlays/prod"}, wantErr: `unexpected argument "overlays/prod"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := kustomizeOptions(tt.args)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestKustomizeLoadRestrictor: a kustomization that reads a file outside
// its root needs --load-restrictor LoadRestrictionsNone, as with kustomize.
func TestKustomizeLoadRestrictor(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/shared/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n")
	writeFile(t, dir+"/app/kustomization.yaml", "resources:\n- ../shared/cm.yaml\n")
	_, err := Render(context.Background(), Options{Kustomize: []KustomizeSource{{Path: dir + "/app"}}})
	if err == nil || !strings.Contains(err.Error(), "is not in or below") {
		t.Errorf("root-only: error %v, want the load restrictor's", err)
	}
	res, err := Render(context.Background(), Options{Kustomize: []KustomizeSource{{Path: dir + "/app", BuildArgs: []string{"--load-restrictor", "LoadRestrictionsNone"}}}})
	if err != nil || len(res.Objects) != 1 {
		t.Errorf("LoadRestrictionsNone: %v, %d objects, want 1", err, len(res.Objects))
	}
}

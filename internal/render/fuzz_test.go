package render

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/manifest"
)

// FuzzReplaceImage: any image string in any workload, against any build,
// never panics; a reference pinned by another digest is never changed; a
// changed reference is always a build's tag.
func FuzzReplaceImage(f *testing.F) {
	f.Add("app", "app", "reg/app:1@"+digestA)
	f.Add("app@"+digestB, "app", "reg/app:1@"+digestA)
	f.Add("localhost:5000/a/b:tag", "localhost:5000/a/b", "x")
	f.Add("{{ .Values.image }}", "{{ .Values.image }}", "y:1")
	f.Add(":@/", "", "@")
	f.Fuzz(func(t *testing.T, image, imageName, tag string) {
		builds := []artifact.Build{{ImageName: imageName, Tag: tag}}
		_ = ImageTemplateVars(builds)
		_ = parseImageRef(image)
		for _, kind := range []string{"Pod", "Deployment", "CronJob"} {
			obj := workload(map[string]string{"Pod": "v1", "Deployment": "apps/v1", "CronJob": "batch/v1"}[kind], kind, image)
			r := newImageReplacer(builds)
			r.replace(obj)
			r.finish()
			eachContainer(obj, func(c map[string]any) {
				got, _ := c["image"].(string)
				if got == image {
					return
				}
				if got != tag {
					t.Fatalf("%s: %q became %q, which is no build's tag", kind, image, got)
				}
				if hasDigest(image) {
					t.Fatalf("%s: digest-pinned %q was replaced by %q", kind, image, got)
				}
			})
		}
	})
}

// FuzzRenderRawYAML: any file rendered with builds, a namespace and labels
// either fails with one line or gives a stream that parses back to the same
// objects and encodes to the same bytes.
func FuzzRenderRawYAML(f *testing.F) {
	for _, seed := range []string{"testdata/raw/app.yaml", "testdata/raw/cluster.yaml", "testdata/raw-bad/broken.yaml"} {
		data, err := os.ReadFile(seed)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: p}\n  spec: {containers: [{name: c, image: skiff.test/api}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "m.yaml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := Render(context.Background(), Options{
			RawYAML:   []string{path},
			Builds:    testBuilds,
			Namespace: "fuzz",
			Labels:    map[string]string{"skiff.dev/fuzz": "yes"},
		})
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			return
		}
		var first bytes.Buffer
		if err := res.Encode(&first); err != nil {
			return // not representable as YAML (e.g. NaN): a clear error is fine
		}
		again, err := manifest.Parse(first.Bytes(), "encoded")
		if err != nil {
			t.Fatalf("encoded output does not parse: %v\n%s", err, first.String())
		}
		manifest.Sort(again)
		var second bytes.Buffer
		if err := manifest.Encode(&second, again); err != nil {
			t.Fatal(err)
		}
		if first.String() != second.String() {
			t.Fatalf("encoding is not stable:\n%s\n---\n%s", first.String(), second.String())
		}
	})
}

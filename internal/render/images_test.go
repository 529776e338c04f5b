package render

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/skiff-dev/skiff/internal/artifact"
)

func workload(apiVersion, kind string, images ...string) *unstructured.Unstructured {
	var containers []any
	for i, img := range images {
		containers = append(containers, map[string]any{"name": "c" + string(rune('0'+i)), "image": img})
	}
	spec := map[string]any{"containers": containers, "initContainers": []any{map[string]any{"name": "init", "image": images[0]}}}
	obj := map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": map[string]any{"name": "w"}}
	switch kind {
	case "Pod":
		obj["spec"] = spec
	case "CronJob":
		obj["spec"] = map[string]any{"jobTemplate": map[string]any{"spec": map[string]any{"template": map[string]any{"spec": spec}}}}
	default:
		obj["spec"] = map[string]any{"template": map[string]any{"spec": spec}}
	}
	return &unstructured.Unstructured{Object: obj}
}

func TestReplaceImages(t *testing.T) {
	builds := []artifact.Build{
		{ImageName: "app", Tag: "reg.test/app:v1@" + digestA},
		{ImageName: "reg.test/team/api", Tag: "reg.test/team/api:v2@" + digestB},
		{ImageName: "localhost:5000/tool", Tag: "localhost:5000/tool:v3"},
	}
	tests := []struct {
		name  string
		obj   *unstructured.Unstructured
		want  []string // images after replacement, init container first
		used  []string // builds not reported unused
		kept  int
		extra int
	}{
		{"pod: bare name and :latest", workload("v1", "Pod", "app", "app:latest"),
			[]string{"reg.test/app:v1@" + digestA, "reg.test/app:v1@" + digestA, "reg.test/app:v1@" + digestA}, []string{"app"}, 0, 0},
		{"deployment: registry with port", workload("apps/v1", "Deployment", "localhost:5000/tool:old"),
			[]string{"localhost:5000/tool:v3", "localhost:5000/tool:v3"}, []string{"localhost:5000/tool"}, 0, 0},
		{"statefulset: digest-pinned stays", workload("apps/v1", "StatefulSet", "reg.test/team/api@"+digestC),
			[]string{"reg.test/team/api@" + digestC, "reg.test/team/api@" + digestC}, []string{"reg.test/team/api"}, 2, 0},
		{"daemonset: other repositories untouched", workload("apps/v1", "DaemonSet", "nginx:1.27", "reg.test/app"),
			[]string{"nginx:1.27", "nginx:1.27", "reg.test/app:v1@" + digestA}, []string{"app"}, 0, 2},
		{"cronjob", workload("batch/v1", "CronJob", "app:dev"),
			[]string{"reg.test/app:v1@" + digestA, "reg.test/app:v1@" + digestA}, []string{"app"}, 0, 0},
		{"job, replicaset, replicationcontroller", workload("batch/v1", "Job", "reg.test/team/api:old"),
			[]string{"reg.test/team/api:v2@" + digestB, "reg.test/team/api:v2@" + digestB}, []string{"reg.test/team/api"}, 0, 0},
		{"not a workload kind", &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "c"}, "data": map[string]any{"image": "app"},
		}}, nil, nil, 0, 0},
		{"library image with docker.io prefix is a different name", workload("apps/v1", "ReplicaSet", "docker.io/app"),
			[]string{"docker.io/app", "docker.io/app"}, nil, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newImageReplacer(builds)
			r.replace(tt.obj)
			var got []string
			eachContainer(tt.obj, func(c map[string]any) { got = append(got, c["image"].(string)) })
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("images (-want +got):\n%s", d)
			}
			rep := r.finish()
			unused := map[string]bool{}
			for _, u := range rep.UnusedBuilds {
				unused[u] = true
			}
			for _, u := range tt.used {
				if unused[u] {
					t.Errorf("build %s reported unused", u)
				}
			}
			if len(rep.KeptDigest) != tt.kept || len(rep.External) != tt.extra {
				t.Errorf("kept %d external %d, want %d and %d", len(rep.KeptDigest), len(rep.External), tt.kept, tt.extra)
			}
		})
	}
}

func TestReplaceByPushedRepository(t *testing.T) {
	// A chart fed {{.IMAGE_REPO_x}}:{{.IMAGE_TAG_x}} writes the pushed
	// repository without the digest: it is pinned like the image name.
	builds := []artifact.Build{{ImageName: "web", Tag: "localhost:5000/web:1.0@" + digestA}}
	obj := workload("apps/v1", "Deployment", "localhost:5000/web:1.0")
	r := newImageReplacer(builds)
	r.replace(obj)
	eachContainer(obj, func(c map[string]any) {
		if c["image"] != "localhost:5000/web:1.0@"+digestA {
			t.Errorf("image = %v, want the build's reference", c["image"])
		}
	})
}

func TestMissingProjectImagesMessage(t *testing.T) {
	r := newImageReplacer(nil)
	r.replace(workload("apps/v1", "Deployment", "app:dev", "nginx"))
	err := missingProjectImages(r.finish(), []string{"app"})
	if err == nil || !strings.HasPrefix(err.Error(), "no build for image app (Deployment.apps w, container init)") {
		t.Errorf("error = %v", err)
	}
	if missingProjectImages(r.finish(), []string{"other"}) != nil {
		t.Error("an image the project does not build must not be an error")
	}
}

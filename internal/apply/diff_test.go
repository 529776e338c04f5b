package apply

import (
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/manifest"
)

func objects(t *testing.T, y string) []manifest.Object {
	t.Helper()
	objs, err := manifest.Parse([]byte(y), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func TestDiffObjects(t *testing.T) {
	t.Parallel()
	from := objects(t, `apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: ns}
data: {version: "1"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: gone, namespace: ns}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: ns}
stringData: {password: hunter2-old, user: admin-name}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ns}
spec: {replicas: 1}
`)
	to := objects(t, `apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: ns}
data: {version: "2"}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: ns}
stringData: {password: hunter2-new-value, user: admin-name}
---
apiVersion: v1
kind: Secret
metadata: {name: fresh, namespace: ns}
data: {token: c3VwZXJzZWNyZXR0b2tlbg==}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ns}
spec: {replicas: 1}
`)
	diffs, err := DiffObjects(from, to, "revision 1", "revision 2")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]ObjectDiff{}
	var all strings.Builder
	for _, d := range diffs {
		got[d.Object] = d
		all.WriteString(d.Unified)
	}
	want := map[string]DiffChange{
		"ConfigMap ns/settings": DiffChanged, "ConfigMap ns/gone": DiffRemoved, "Secret ns/creds": DiffChanged,
		"Secret ns/fresh": DiffAdded, "Deployment.apps ns/web": DiffUnchanged,
	}
	if len(got) != len(want) {
		t.Errorf("diffs: %+v", diffs)
	}
	for obj, change := range want {
		if got[obj].Change != change {
			t.Errorf("%s: %q, want %q", obj, got[obj].Change, change)
		}
	}
	if u := got["ConfigMap ns/settings"].Unified; !strings.Contains(u, `-  version: "1"`) || !strings.Contains(u, `+  version: "2"`) || !strings.Contains(u, "--- revision 1") {
		t.Errorf("ConfigMap diff:\n%s", u)
	}
	if u := got["Secret ns/creds"].Unified; !strings.Contains(u, "+  password: (secret value, 17 bytes, changed)") || strings.Contains(u, "+  user") || strings.Contains(u, "-  user") {
		t.Errorf("Secret diff must say the password changed, and nothing about the unchanged user:\n%s", u)
	}
	for _, secret := range []string{"hunter2", "admin-name", "c3VwZXJzZWNyZXR0b2tlbg", "supersecret"} {
		if strings.Contains(all.String(), secret) {
			t.Errorf("a secret value (%s) is in the diff:\n%s", secret, all.String())
		}
	}
	if got["Deployment.apps ns/web"].Unified != "" {
		t.Error("an unchanged object has a diff")
	}
}

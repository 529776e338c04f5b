package apply

import (
	"encoding/base64"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Digests depend on the key, the Secret, the data key and the value, and
// never contain the value; data and stringData digest alike.
func TestSecretDigests(t *testing.T) {
	obj := func(field string, v any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret",
			"metadata": map[string]any{"name": "db"}, field: map[string]any{"password": v, "user": v}}}
	}
	digests := func(key string, u *unstructured.Unstructured) map[string]string {
		out := map[string]string{}
		if err := addDigests(out, []byte(key), u); err != nil {
			t.Fatal(err)
		}
		return out
	}
	d1 := digests("k1", obj("data", base64.StdEncoding.EncodeToString([]byte("s3cret"))))
	if len(d1) != 2 || len(d1["db/password"]) != 32 || strings.Contains(d1["db/password"], "s3cret") {
		t.Fatalf("digests %v", d1)
	}
	if d1["db/password"] == d1["db/user"] {
		t.Error("two keys with one value have one digest")
	}
	if d := digests("k1", obj("stringData", "s3cret")); d["db/password"] != d1["db/password"] {
		t.Error("stringData and data of one value digest differently")
	}
	if d := digests("k2", obj("stringData", "s3cret")); d["db/password"] == d1["db/password"] {
		t.Error("the digest does not depend on the key")
	}
	if d := digests("k1", obj("stringData", "other")); d["db/password"] == d1["db/password"] {
		t.Error("the digest does not depend on the value")
	}
	if err := addDigests(map[string]string{}, []byte("k"), obj("data", "not base64!")); err == nil || strings.Contains(err.Error(), "not base64!") {
		t.Errorf("malformed data: %v", err)
	}
	rec := &Record{Namespace: "ns", Secrets: map[string]string{"db/password": "x", "db/user": "y", "api/token": "z"}}
	if got := keptSecrets(rec); len(got) != 2 || got[0].Name != "api" || got[1].Name != "db" || got[1].Namespace != "ns" || got[1].Kind != "Secret" {
		t.Errorf("keptSecrets %+v", got)
	}
}

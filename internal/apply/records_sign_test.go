package apply

import (
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRecordKeyNamesAreInjective(t *testing.T) {
	t.Parallel()
	seen := map[string]string{}
	for _, c := range [][2]string{{"shop-review", "x"}, {"shop", "review-x"}, {"shop", "review.x"}, {"shop", "Review-X"}} {
		for _, n := range []string{RecordKeyName(c[0], c[1]), namespaceRecordKeyName(c[0], c[1])} {
			if prev, dup := seen[n]; dup {
				t.Errorf("%v and %s share key %s", c, prev, n)
			}
			seen[n] = c[0] + "/" + c[1]
			if len(n) > 253 || strings.Trim(n, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" {
				t.Errorf("%q is not a Secret name", n)
			}
		}
	}
	if n := RecordKeyName(strings.Repeat("a", 63), strings.Repeat("b", 200)); len(n) > 253 {
		t.Errorf("long names: %d characters", len(n))
	}
}

// Every field a rollback acts on is covered: changing any one breaks the
// signature; the status and re-apply notes are not.
func TestSignatureCoversWhatARollbackUses(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, recordKeySize)
	const kn = "skiff.record-key.v1.env.shop-staging.0123456789abcdef"
	good := func() *Record {
		r := &Record{App: "shop", Namespace: "shop-staging", Revision: 3, ManifestsSHA256: strings.Repeat("a", 64), Objects: 2,
			Commit: "c0ffee", Tag: "v1.2.3", RollbackOf: 1, Secrets: map[string]string{"db/password": "00", "db/user": "11"}}
		sign(r, key, kn)
		return r
	}
	if err := verify(good(), "shop-staging", "r", kn, key); err != nil {
		t.Fatalf("genuine record: %v", err)
	}
	for name, change := range map[string]func(*Record){
		"manifests": func(r *Record) { r.ManifestsSHA256 = strings.Repeat("b", 64) },
		"revision":  func(r *Record) { r.Revision = 4 },
		"app":       func(r *Record) { r.App = "shop2" },
		"namespace": func(r *Record) { r.Namespace = "other" },
		"tag":       func(r *Record) { r.Tag = "v9" },
		"commit":    func(r *Record) { r.Commit = "bad" },
		"objects":   func(r *Record) { r.Objects = 1 },
		"rollback":  func(r *Record) { r.RollbackOf = 0 },
		"secrets":   func(r *Record) { r.Secrets["other/x"] = "22" },
		"unsigned":  func(r *Record) { r.Signature = "" },
		"key":       func(r *Record) { r.SignedWith = "skiff.record-key.v1.env.other.0" },
	} {
		r := good()
		change(r)
		err := verify(r, "shop-staging", "skiff.release.v1.shop.v3", kn, key)
		if !errors.Is(err, ErrUnverified) || !strings.Contains(err.Error(), "shop-staging/skiff.release.v1.shop.v3") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s changed: %v", name, err)
		}
	}
	r := good()
	r.Status, r.Message, r.Reapplied = RecordFailed, "x", []Reapply{{Actor: "a"}}
	if err := verify(r, "shop-staging", "r", kn, key); err != nil {
		t.Errorf("status and notes are not signed: %v", err)
	}
	if err := verify(good(), "shop-staging", "r", kn, bytes.Repeat([]byte{8}, recordKeySize)); !errors.Is(err, ErrUnverified) {
		t.Errorf("another key: %v", err)
	}
	if s := good().Signature; strings.Contains(s, string(key)) || len(s) != 64 {
		t.Errorf("signature %q", s)
	}
}

// A gzip bomb in a record is refused at the bound, not expanded.
func TestStoredManifestsAreBounded(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	chunk := make([]byte, 1<<20)
	for i := 0; i < maxManifests>>20+1; i++ {
		_, _ = zw.Write(chunk)
	}
	_ = zw.Close()
	s := recordSecretForTest("ns", "skiff.release.v1.a.v1", buf.Bytes())
	_, err := storedManifests(s)
	if err == nil || !strings.Contains(err.Error(), "expand beyond 64 MiB") || !strings.Contains(err.Error(), "ns/skiff.release.v1.a.v1") {
		t.Fatalf("bomb: %v", err)
	}
	s = recordSecretForTest("ns", "r", []byte("not gzip"))
	if _, err := storedManifests(s); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("not gzip: %v", err)
	}
}

func recordSecretForTest(ns, name string, gz []byte) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{manifestsKey: gz}}
}

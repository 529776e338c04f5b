package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/oci"
	"github.com/skiff-dev/skiff/internal/release"
	"github.com/skiff-dev/skiff/internal/secrets/secretstest"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// secretsProject writes a project whose environments take their Secret
// app-db from the sandbox's Vault (token auth for staging, a GitLab-style
// JWT for review) and a SOPS file, and returns its dir and app name.
func secretsProject(t *testing.T, path, role string) (string, string) {
	t.Helper()
	app := fmt.Sprintf("s%06x", mrand.IntN(1<<24))
	dir := t.TempDir()
	writeSecretsConfig(t, dir, app, path, role)
	writeApp(t, dir, "1", "")
	return dir, app
}

func writeSecretsConfig(t *testing.T, dir, app, path, role string) {
	t.Helper()
	mustWrite(t, filepath.Join(dir, "skiff.yaml"), fmt.Sprintf(`apiVersion: skiff/v1
kind: Config
metadata:
  name: %[1]s
manifests:
  rawYaml: [k8s/*.yaml]
environments:
  - name: review
    dynamic: true
    ttl: 1h
    vault:
      auth: {method: jwt, role: %[3]s, audience: "https://vault.test"}
    secrets:
      - name: app-db
        data:
          password: {vault: {path: %[2]s, key: password}}
  - name: staging
    onFailure: rollback
    secrets:
      - name: app-db
        data:
          password: {vault: {path: %[2]s, key: password}}
          api-key: {sops: {file: secrets/staging.enc.yaml, key: apiKey}}
  - name: qa
    secrets:
      - name: app-db
        data:
          password: {vault: {path: %[2]s-gone, key: password}}
`, app, path, role))
}

func randomValue(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// TestEnvDeploySecrets deploys Secrets from Vault (token and JWT auth) and
// a SOPS file: they are in the cluster, the release records hold digests
// only, history shows a changed value, rollback keeps the live Secret, and
// no value appears in any output, file, release artifact or record.
// Unreachable Vault, a missing path, a wrong role and a denied JWT each
// fail in one line with nothing applied.
func TestEnvDeploySecrets(t *testing.T) {
	e, client := onSandbox(t)
	v := secretstest.RequireVault(t)
	ctx := context.Background()
	path := fmt.Sprintf("skiff/deploy-%d", time.Now().UnixNano())
	role := strings.ReplaceAll(path, "/", "-")
	dir, app := secretsProject(t, path, role)
	cleanupNamespaces(t, client, app)
	t.Setenv("SKAFFOLD_DEFAULT_REPO", e.Registry()+"/"+app)

	v1, v2, sopsValue := randomValue("vault-one-"), randomValue("vault-two-"), randomValue("sops-")
	values := []string{v1, v2, sopsValue}
	v.Write(t, "secret/data/"+path, map[string]any{"data": map[string]any{"password": v1}})
	v.Write(t, "sys/policies/acl/"+role, map[string]any{"policy": `path "secret/data/` + path + `" { capabilities = ["read"] }`})
	v.Write(t, "auth/jwt/role/"+role, map[string]any{
		"role_type": "jwt", "user_claim": "sub", "bound_audiences": []string{"https://vault.test"},
		"bound_claims": map[string]any{"project_path": "group/" + app}, "token_policies": []string{role}, "token_ttl": "5m"})
	if err := os.MkdirAll(filepath.Join(dir, "secrets"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOPS_AGE_KEY", secretstest.EncryptSOPS(t, filepath.Join(dir, "secrets", "staging.enc.yaml"), "apiKey: "+sopsValue+"\n"))
	t.Setenv("VAULT_ADDR", v.Addr)
	t.Setenv("VAULT_TOKEN", v.Token)
	t.Setenv("VAULT_ID_TOKEN", "")

	var outputs []string
	skiff := func(wantOK bool, args ...string) string {
		t.Helper()
		out, stderr, code := run(t, dir, args...)
		outputs = append(outputs, out, stderr)
		if (code == 0) != wantOK {
			t.Fatalf("skiff %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, stderr)
		}
		return out + stderr
	}

	// render shows placeholders, never values.
	rendered := filepath.Join(dir, "rendered.yaml")
	skiff(true, "render", "--environment", "staging", "--offline", "-o", rendered)
	if r := readFile(t, rendered); !strings.Contains(r, "<secret from vault secret/"+path+"#password, read") ||
		!strings.Contains(r, "namespace: "+app+"-staging") {
		t.Errorf("render --environment staging shows no placeholder:\n%s", r)
	}

	ns := app + "-staging"
	e.WaitingStage(t, ns)
	secretData := func(ns string) map[string]string {
		t.Helper()
		s, err := client.CoreV1().Secrets(ns).Get(ctx, "app-db", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("Secret app-db in %s: %v", ns, err)
		}
		out := map[string]string{}
		for k, b := range s.Data {
			out[k] = string(b)
		}
		return out
	}
	skiff(true, "env", "deploy", "staging")
	if got := secretData(ns); got["password"] != v1 || got["api-key"] != sopsValue {
		t.Fatalf("Secret app-db after the first deploy has the wrong values (keys %d)", len(got))
	}
	records := apply.NewRecords(client)
	recs, err := records.List(ctx, ns, app)
	if err != nil || len(recs) != 1 || len(recs[0].Secrets) != 2 || recs[0].Secrets["app-db/password"] == "" {
		t.Fatalf("records after the first deploy: %+v %v", recs, err)
	}
	inv, err := apply.ReadInventory(ctx, client, ns, app)
	if err != nil || !hasRef(inv.Objects, "Secret", "app-db") {
		t.Fatalf("the inventory does not list Secret app-db: %+v %v", inv, err)
	}

	// A new value in Vault: a new revision whose digest differs, shown by history.
	v.Write(t, "secret/data/"+path, map[string]any{"data": map[string]any{"password": v2}})
	skiff(true, "env", "deploy", "staging")
	if got := secretData(ns); got["password"] != v2 {
		t.Fatal("Secret app-db does not have the new Vault value")
	}
	recs, _ = records.List(ctx, ns, app)
	if len(recs) != 2 || recs[1].Secrets["app-db/password"] == recs[0].Secrets["app-db/password"] || recs[1].Secrets["app-db/api-key"] != recs[0].Secrets["app-db/api-key"] {
		t.Fatalf("digests do not follow the values: %+v", recs)
	}
	if h := skiff(true, "env", "history", "staging"); !strings.Contains(h, "secret app-db/password changed") || strings.Contains(h, "api-key changed") {
		t.Errorf("history does not show exactly the changed secret:\n%s", h)
	}

	// Rollback re-applies revision 1's manifests and keeps the live Secret.
	skiff(true, "env", "rollback", "staging", "--to-revision", "1")
	if got := secretData(ns); got["password"] != v2 {
		t.Error("rollback changed the live Secret")
	}
	if inv, _ := apply.ReadInventory(ctx, client, ns, app); !hasRef(inv.Objects, "Secret", "app-db") {
		t.Error("after rollback the inventory lost Secret app-db (prune would delete it)")
	}
	// A failing rollout rolls back (onFailure: rollback) and keeps the Secret too.
	writeApp(t, dir, "2", "ImagePullBackOff")
	if out := skiff(false, "env", "deploy", "staging", "--status-check-deadline", "2m"); !strings.Contains(out, "rolled back to revision") {
		t.Fatalf("failing rollout did not roll back:\n%s", out)
	}
	writeApp(t, dir, "1", "")
	if got := secretData(ns); got["password"] != v2 {
		t.Error("onFailure rollback changed or lost the live Secret")
	}
	recs, _ = records.List(ctx, ns, app)
	if last := recs[len(recs)-1]; last.RollbackOf == 0 || last.Secrets["app-db/password"] != recs[1].Secrets["app-db/password"] {
		t.Errorf("the rollback's record does not keep the live Secret's digests: %+v", last)
	}
	if inv, _ := apply.ReadInventory(ctx, client, ns, app); !hasRef(inv.Objects, "Secret", "app-db") {
		t.Error("after onFailure rollback the inventory lost Secret app-db")
	}

	// Failures: one line naming the secret and the Vault path, nothing applied.
	revisions := func(ns string) int {
		recs, err := records.List(ctx, ns, app)
		if err != nil {
			t.Fatal(err)
		}
		return len(recs)
	}
	before := revisions(ns)
	t.Setenv("VAULT_ADDR", "http://127.0.0.1:1")
	failLine(t, skiff(false, "env", "deploy", "staging"), "secret app-db key password", "vault secret/"+path+"#password", "connection refused")
	t.Setenv("VAULT_ADDR", v.Addr)
	if n := revisions(ns); n != before {
		t.Errorf("a deploy with Vault unreachable wrote revision %d", n)
	}
	failLine(t, skiff(false, "env", "deploy", "qa"), "secret app-db key password", "no secret at secret/"+path+"-gone")
	assertNoNamespace(t, client, app+"-qa")

	// review logs in with a JWT the way a GitLab job does.
	now := time.Now().Unix()
	jwt := func(project string) string {
		return v.MintJWT(t, map[string]any{"iss": v.Issuer, "sub": "project_path:" + project, "aud": "https://vault.test",
			"iat": now, "nbf": now - 5, "exp": now + 300, "project_path": project})
	}
	t.Setenv("VAULT_TOKEN", "")
	t.Setenv("VAULT_ID_TOKEN", jwt("group/"+app))
	skiff(true, "env", "deploy", "review", "--ref", "feature-a")
	if got := secretData(app + "-review-feature-a"); got["password"] != v2 {
		t.Error("review's Secret (JWT login) does not have the Vault value")
	}
	t.Setenv("VAULT_ID_TOKEN", jwt("group/other"))
	failLine(t, skiff(false, "env", "deploy", "review", "--ref", "feature-b"), "vault login with jwt auth at auth/jwt as role", "claim")
	assertNoNamespace(t, client, app+"-review-feature-b")
	t.Setenv("VAULT_ID_TOKEN", jwt("group/"+app))
	writeSecretsConfig(t, dir, app, path, role+"-nope")
	failLine(t, skiff(false, "env", "deploy", "review", "--ref", "feature-c"), "as role \""+role+"-nope\"", "HTTP 400")
	assertNoNamespace(t, client, app+"-review-feature-c")
	writeSecretsConfig(t, dir, app, path, role)

	// A release carries no Secret and refuses a plain one.
	ref, _, _ := strings.Cut(skiff(true, "release", "create", "--tag", "v1.0.0"), "\n") // stdout comes first
	mustWrite(t, filepath.Join(dir, "k8s", "plain.yaml"), "apiVersion: v1\nkind: Secret\nmetadata: {name: plain}\nstringData: {token: abc}\n")
	failLine(t, skiff(false, "release", "create", "--tag", "v1.0.1"), "Secret", "environments[staging].secrets", "allowPlainSecrets")
	if err := os.Remove(filepath.Join(dir, "k8s", "plain.yaml")); err != nil {
		t.Fatal(err)
	}

	// No value anywhere: outputs, the project's files (.skiff/, rendered),
	// the release artifact, the release records and inventories.
	var places []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasPrefix(p, filepath.Join(dir, "secrets")) {
			b, _ := os.ReadFile(p)
			places = append(places, p+"\x00"+string(b))
		}
		return nil
	})
	rel, err := (&release.Store{Client: oci.New(oci.Options{})}).Get(ctx, ref)
	if err != nil {
		t.Fatalf("reading release %s: %v", ref, err)
	}
	meta, _ := json.Marshal(rel.Metadata)
	places = append(places, "release metadata\x00"+string(meta))
	for _, name := range []string{"staging", "qa"} {
		m, err := rel.Manifests(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		places = append(places, "release "+name+"\x00"+string(m))
	}
	for _, n := range []string{ns, app + "-review-feature-a"} {
		places = append(places, bookkeeping(t, client, n)...)
	}
	for i, o := range outputs {
		places = append(places, fmt.Sprintf("output %d\x00%s", i, o))
	}
	for _, p := range places {
		name, text, _ := strings.Cut(p, "\x00")
		for _, val := range values {
			if strings.Contains(text, val) {
				t.Errorf("a secret value appears in %s", name)
			}
		}
	}
}

// bookkeeping is the text of skiff's own objects in namespace (release
// records with their manifests un-gzipped, the inventory), one entry each.
func bookkeeping(t *testing.T, client kubernetes.Interface, namespace string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	l, err := client.CoreV1().Secrets(namespace).List(ctx, metav1.ListOptions{LabelSelector: apply.LabelRole + "=release"})
	if err != nil || len(l.Items) == 0 {
		t.Fatalf("release records in %s: %d, %v", namespace, len(l.Items), err)
	}
	for _, s := range l.Items {
		for k, b := range s.Data {
			if strings.HasSuffix(k, ".gz") {
				zr, err := gzip.NewReader(bytes.NewReader(b))
				if err != nil {
					t.Fatal(err)
				}
				if b, err = io.ReadAll(io.LimitReader(zr, math.MaxInt32)); err != nil {
					t.Fatal(err)
				}
			}
			out = append(out, "record "+namespace+"/"+s.Name+"#"+k+"\x00"+string(b))
		}
	}
	cm, err := client.CoreV1().ConfigMaps(namespace).Get(ctx, apply.InventoryName(strings.SplitN(namespace, "-", 2)[0]), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(cm)
	return append(out, "inventory "+namespace+"\x00"+string(b))
}

func hasRef(refs []apply.ObjectRef, kind, name string) bool {
	for _, r := range refs {
		if r.Kind == kind && r.Name == name {
			return true
		}
	}
	return false
}

// failLine checks that a failure's output has one error line saying each of want.
func failLine(t *testing.T, output string, want ...string) {
	t.Helper()
	var line string
	for _, l := range strings.Split(output, "\n") {
		if strings.Contains(l, want[0]) {
			line = l
		}
	}
	for _, w := range want {
		if !strings.Contains(line, w) {
			t.Errorf("no line says %q with %q:\n%s", want[0], w, output)
		}
	}
}

func assertNoNamespace(t *testing.T, client kubernetes.Interface, ns string) {
	t.Helper()
	if _, err := client.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s exists after a failed deploy (err %v): something was applied", ns, err)
	}
}

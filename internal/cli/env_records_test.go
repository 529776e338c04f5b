package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/apply"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestForgedReleaseRecordIsRefused: a user with only the edit role in a
// staging namespace rewrites a release record (other manifests, their
// SHA-256 recomputed) and writes an unsigned one; env rollback and
// onFailure: rollback refuse them, naming the record, and apply nothing.
// A genuine record still rolls back, and the record key appears in no
// output and no record.
func TestForgedReleaseRecordIsRefused(t *testing.T) {
	e, client := onSandbox(t)
	id := fmt.Sprintf("%06x", rand.IntN(1<<24))
	app, deployer, forger := "t"+id, "deployer-"+id, "forger-"+id
	ns := app + "-staging"
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "skiff.yaml"), fmt.Sprintf(`apiVersion: skiff/v1
kind: Config
metadata:
  name: %s
manifests:
  rawYaml: [k8s/*.yaml]
environments:
  - name: staging
    namespace: %s
    onFailure: rollback
    as: %s
`, app, ns, deployer))
	writeApp(t, dir, "1", "")
	cleanupNamespaces(t, client, app)
	ctx := context.Background()
	keyName := apply.RecordKeyName(app, "staging")
	t.Cleanup(func() { _ = client.CoreV1().Secrets(apply.KeyNamespace).Delete(ctx, keyName, metav1.DeleteOptions{}) })

	// The administrator makes the namespace, installs the deployer's RBAC
	// (which makes the record key) and gives the forger edit there.
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.WaitingStage(t, ns)
	var outputs []string
	outputs = append(outputs, mustRun(t, dir, "env", "rbac", "staging", "--apply"))
	if _, err := client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "forger-edit"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: forger}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	forgerClient, _ := impersonating(t, e, forger)
	deployerClient, _ := impersonating(t, e, deployer)
	// edit reads Secrets in the namespace, but not the key, nor may the
	// deployer touch it beyond reading it.
	if _, err := forgerClient.CoreV1().Secrets(apply.KeyNamespace).Get(ctx, keyName, metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("the forger reads the record key: %v", err)
	}
	if _, err := deployerClient.CoreV1().Secrets(apply.KeyNamespace).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("the deployer lists the key namespace: %v", err)
	}
	keySecret, err := deployerClient.CoreV1().Secrets(apply.KeyNamespace).Get(ctx, keyName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the deployer cannot read its record key: %v", err)
	}
	key := keySecret.Data["key"]

	outputs = append(outputs, mustRun(t, dir, "env", "deploy", "staging"))
	writeApp(t, dir, "2", "")
	outputs = append(outputs, mustRun(t, dir, "env", "deploy", "staging"))

	// The forger rewrites revision 2: its ConfigMap says "forged" and it
	// plants a Role granting everything; the SHA-256 is recomputed.
	rec2 := apply.RecordName(app, 2)
	s, err := forgerClient.CoreV1().Secrets(ns).Get(ctx, rec2, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the forger (edit) cannot read the record: %v", err)
	}
	plain := gunzip(t, s.Data["manifests.yaml.gz"])
	forged := strings.Replace(string(plain), `version: "2"`, `version: forged`, 1)
	if forged == string(plain) {
		t.Fatalf("record manifests without the version:\n%s", plain)
	}
	forged += "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: planted\n  namespace: " + ns + "\ndata: {x: y}\n"
	var rec map[string]any
	if err := json.Unmarshal(s.Data["release"], &rec); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(forged))
	rec["manifestsSHA256"], rec["objects"] = hex.EncodeToString(sum[:]), 3
	s.Data["release"], _ = json.Marshal(rec)
	s.Data["manifests.yaml.gz"] = gzipped(t, []byte(forged))
	if _, err := forgerClient.CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("the forger (edit) cannot write the record: %v", err)
	}
	// And writes revision 9 from scratch, unsigned, as deployed.
	unsigned := s.DeepCopy()
	unsigned.ObjectMeta = metav1.ObjectMeta{Name: apply.RecordName(app, 9), Namespace: ns, Labels: map[string]string{}}
	for k, v := range s.Labels {
		unsigned.Labels[k] = v
	}
	unsigned.Labels[apply.LabelRevision] = "9"
	rec["revision"], rec["signature"], rec["signedWith"] = 9, nil, nil
	unsigned.Data["release"], _ = json.Marshal(rec)
	if _, err := forgerClient.CoreV1().Secrets(ns).Create(ctx, unsigned, metav1.CreateOptions{}); err != nil {
		t.Fatalf("the forger (edit) cannot create a record: %v", err)
	}

	before := objectVersions(t, client, ns)
	for _, tc := range []struct {
		rev  string
		name string
		want string
	}{
		{"2", rec2, "fails its signature check"},
		{"9", apply.RecordName(app, 9), "is not signed"},
	} {
		out, stderr, code := run(t, dir, "env", "rollback", "staging", "--to-revision", tc.rev)
		outputs = append(outputs, out, stderr)
		line := lastLine(stderr)
		if code == 0 || !strings.Contains(line, ns+"/"+tc.name) || !strings.Contains(line, tc.want) || !strings.Contains(line, "nothing was applied") {
			t.Errorf("rollback to the forged revision %s: exit %d, last line %q\nstderr: %s", tc.rev, code, line, stderr)
		}
		if after := objectVersions(t, client, ns); after != before {
			t.Errorf("rollback to forged revision %s changed the cluster:\nbefore %s\nafter  %s", tc.rev, before, after)
		}
	}

	// A failing rollout with onFailure: rollback picks revision 9 (the
	// newest deployed): refused, and nothing of it is applied.
	writeApp(t, dir, "3", "ImagePullBackOff")
	out, stderr, code := run(t, dir, "env", "deploy", "staging", "--status-check-deadline", "2m")
	outputs = append(outputs, out, stderr)
	if code == 0 || !strings.Contains(stderr, "rollback refused") || !strings.Contains(stderr, ns+"/"+apply.RecordName(app, 9)) {
		t.Errorf("failed rollout over a forged record: exit %d\nstderr: %s", code, stderr)
	}
	if v := configVersion(t, client, ns); v != "3" {
		t.Errorf("after the refused rollback the version is %q, want the failed revision's 3", v)
	}
	if _, err := client.CoreV1().ConfigMaps(ns).Get(ctx, "planted", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the forged record's object exists: %v", err)
	}
	if revs := revisions(t, client, ns, app); revs != "1 2 9 10" {
		t.Errorf("revisions after the refused rollback: %s (a rollback would have written one)", revs)
	}

	// The forger deletes its unsigned record; onFailure then reaches the
	// altered revision 2 and refuses it too.
	if err := forgerClient.CoreV1().Secrets(ns).Delete(ctx, apply.RecordName(app, 9), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	writeApp(t, dir, "4", "ImagePullBackOff")
	out, stderr, code = run(t, dir, "env", "deploy", "staging", "--status-check-deadline", "2m")
	outputs = append(outputs, out, stderr)
	if code == 0 || !strings.Contains(stderr, "rollback refused") || !strings.Contains(stderr, ns+"/"+rec2) || !strings.Contains(stderr, "fails its signature check") {
		t.Errorf("failed rollout over an altered record: exit %d\nstderr: %s", code, stderr)
	}
	if v := configVersion(t, client, ns); v != "4" {
		t.Errorf("after the refused rollback the version is %q, want the failed revision's 4", v)
	}

	// The genuine revision 1 still rolls back, and is signed again.
	out, stderr, code = run(t, dir, "env", "rollback", "staging", "--to-revision", "1")
	outputs = append(outputs, out, stderr)
	if code != 0 {
		t.Fatalf("rollback to the genuine revision 1: exit %d\nstderr: %s", code, stderr)
	}
	if v := configVersion(t, client, ns); v != "1" {
		t.Errorf("version %q after rolling back to revision 1", v)
	}
	if _, err := client.CoreV1().ConfigMaps(ns).Get(ctx, "planted", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the forged record's object exists: %v", err)
	}
	recs, err := client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: apply.LabelApp + "=" + app})
	if err != nil {
		t.Fatal(err)
	}
	var signed int
	var stored []string
	for _, r := range recs.Items {
		stored = append(stored, string(r.Data["release"]))
		if gz, ok := r.Data["manifests.yaml.gz"]; ok {
			stored = append(stored, string(gunzip(t, gz)))
		}
		if strings.Contains(string(r.Data["release"]), `"signature":"`) {
			signed++
		}
	}
	if signed < 4 {
		t.Errorf("%d signed records, want every revision skiff wrote", signed)
	}

	// The key is in no output and no record, in any encoding.
	all := strings.Join(append(outputs, stored...), "\n")
	for _, enc := range []string{string(key), hex.EncodeToString(key), base64.StdEncoding.EncodeToString(key), base64.RawURLEncoding.EncodeToString(key)} {
		if strings.Contains(all, enc) {
			t.Fatalf("the record key appears in an output or record")
		}
	}
	if len(key) != 32 {
		t.Fatalf("record key of %d bytes", len(key))
	}
}

// objectVersions are every object of ns that an apply could change, by
// resourceVersion.
func objectVersions(t *testing.T, client kubernetes.Interface, ns string) string {
	t.Helper()
	ctx := context.Background()
	var parts []string
	cms, err := client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range cms.Items {
		parts = append(parts, "cm/"+o.Name+"@"+o.ResourceVersion)
	}
	secrets, err := client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range secrets.Items {
		parts = append(parts, "secret/"+o.Name+"@"+o.ResourceVersion)
	}
	deps, err := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range deps.Items {
		parts = append(parts, "deploy/"+o.Name+"@"+fmt.Sprint(o.Generation))
	}
	roles, err := client.RbacV1().Roles(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range roles.Items {
		parts = append(parts, "role/"+o.Name+"@"+o.ResourceVersion)
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func configVersion(t *testing.T, client kubernetes.Interface, ns string) string {
	t.Helper()
	cm, err := client.CoreV1().ConfigMaps(ns).Get(context.Background(), "settings", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm.Data["version"]
}

func revisions(t *testing.T, client kubernetes.Interface, ns, app string) string {
	t.Helper()
	recs, err := apply.NewRecords(client).List(context.Background(), ns, app)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, fmt.Sprint(r.Revision))
	}
	return strings.Join(out, " ")
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

package apply

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/skiff-dev/skiff/internal/kubeclient"
	"github.com/skiff-dev/skiff/internal/manifest"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

// Release record labels and keys.
const (
	LabelRevision = "skiff.dev/revision"
	LabelStatus   = "skiff.dev/status"
	// RecordType is the Secret type of release records.
	RecordType   = "skiff.dev/release.v1"
	recordKey    = "release"
	manifestsKey = "manifests.yaml.gz"
	// maxManifests bounds the un-gzipped manifests of a record.
	maxManifests = 64 << 20
)

// RecordStatus is the outcome of a revision.
type RecordStatus string

// The outcomes of a revision.
const (
	RecordPending  RecordStatus = "pending"  // applied, status check running
	RecordDeployed RecordStatus = "deployed" // applied and (when checked) ready
	RecordFailed   RecordStatus = "failed"
)

// Record is one revision of an application in a namespace, as written by
// one apply. The manifests themselves are fetched with Records.Manifests.
type Record struct {
	App       string       `json:"app"`
	Namespace string       `json:"namespace"`
	Revision  int          `json:"revision"`
	Status    RecordStatus `json:"status"`
	Message   string       `json:"message,omitempty"` // why it failed
	Time      time.Time    `json:"time"`
	// KubeUser is the identity the API server saw (SelfSubjectReview).
	KubeUser string `json:"kubeUser,omitempty"`
	// Actor is the person or pipeline user ($GITLAB_USER_LOGIN, $USER).
	Actor       string `json:"actor,omitempty"`
	Commit      string `json:"commit,omitempty"`
	Tag         string `json:"tag,omitempty"`
	Description string `json:"description,omitempty"`
	// Images are the container images of the applied workloads; those
	// built by skiff carry their digest.
	Images []string `json:"images,omitempty"`
	// ManifestsSHA256 is the SHA-256 of the stored manifests (the applied
	// objects as one YAML stream, before gzip).
	ManifestsSHA256 string `json:"manifestsSHA256"`
	Objects         int    `json:"objects"`
	// RollbackOf is the revision whose manifests this one re-applied.
	RollbackOf int `json:"rollbackOf,omitempty"`
	// Secrets are the keyed digests of the values of the Secrets applied
	// from a vault (Options.Secrets) or kept by a rollback, "name/key" →
	// HMAC-SHA256 (see DigestKeyName): they show that a value changed.
	Secrets map[string]string `json:"secrets,omitempty"`
	// Signature is the HMAC-SHA256 of the record's fixed fields under the
	// key SignedWith names in KeyNamespace (see records_sign.go); empty
	// when the deploy could not read the key.
	Signature  string `json:"signature,omitempty"`
	SignedWith string `json:"signedWith,omitempty"`
	// Reapplied are the latest applies that found this revision already in
	// place and changed nothing, oldest first (at most maxReapplied). They
	// are not revisions: history shows only deploys that changed something.
	Reapplied []Reapply `json:"reapplied,omitempty"`
}

// RecordName is the name of the Secret holding app's revision rev.
func RecordName(app string, rev int) string { return fmt.Sprintf("skiff.release.v1.%s.v%d", app, rev) }

// Records reads and writes release records: one Secret per revision in the
// application's namespace, like Helm's release Secrets.
type Records struct {
	client kubeclient.Interface
}

// NewRecords returns the release records store of client's cluster.
func NewRecords(client kubeclient.Interface) *Records { return &Records{client: client} }

func recordSelector(app string) string {
	return labels.SelectorFromSet(labels.Set{LabelManagedBy: ManagedBy, LabelRole: "release", LabelApp: app}).String()
}

// List returns app's records in namespace, oldest first.
func (r *Records) List(ctx context.Context, namespace, app string) ([]Record, error) {
	secrets, err := r.list(ctx, namespace, app)
	if err != nil {
		return nil, err
	}
	out := make([]Record, 0, len(secrets))
	for i := range secrets {
		rec, err := decodeRecord(&secrets[i])
		if err != nil {
			return nil, err
		}
		out = append(out, *rec)
	}
	return out, nil
}

func (r *Records) list(ctx context.Context, namespace, app string) ([]corev1.Secret, error) {
	l, err := r.client.CoreV1().Secrets(namespace).List(ctx, metav1.ListOptions{LabelSelector: recordSelector(app)})
	if err != nil {
		return nil, fmt.Errorf("listing the release records of %q in namespace %q: %w", app, namespace, err)
	}
	items := l.Items
	sort.Slice(items, func(i, j int) bool { return revisionOf(&items[i]) < revisionOf(&items[j]) })
	return items, nil
}

func revisionOf(s *corev1.Secret) int {
	n, _ := strconv.Atoi(s.Labels[LabelRevision])
	return n
}

func decodeRecord(s *corev1.Secret) (*Record, error) {
	var rec Record
	if err := json.Unmarshal(s.Data[recordKey], &rec); err != nil {
		return nil, fmt.Errorf("release record %s/%s is corrupt: %w; delete it", s.Namespace, s.Name, err)
	}
	return &rec, nil
}

// Get returns revision rev of app.
func (r *Records) Get(ctx context.Context, namespace, app string, rev int) (*Record, error) {
	s, err := r.client.CoreV1().Secrets(namespace).Get(ctx, RecordName(app, rev), metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading revision %d of %q in namespace %q: %w", rev, app, namespace, err)
	}
	return decodeRecord(s)
}

// Manifests returns the objects revision rev applied, for reading (diff,
// history, cleanup): they match the record's SHA-256 but the record is not
// verified; what is applied again comes from Verified.
func (r *Records) Manifests(ctx context.Context, namespace, app string, rev int) ([]manifest.Object, error) {
	name := RecordName(app, rev)
	s, err := r.client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading revision %d of %q in namespace %q: %w", rev, app, namespace, err)
	}
	rec, err := decodeRecord(s)
	if err != nil {
		return nil, err
	}
	plain, err := storedManifests(s)
	if err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(plain); hex.EncodeToString(sum[:]) != rec.ManifestsSHA256 {
		return nil, fmt.Errorf("release record %s/%s: its manifests do not match its SHA-256 (changed after skiff wrote them); delete it", namespace, name)
	}
	return parseManifests(plain, rev)
}

// storedManifests un-gzips the manifests of record s, bounded.
func storedManifests(s *corev1.Secret) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(s.Data[manifestsKey]))
	if err != nil {
		return nil, fmt.Errorf("release record %s/%s: manifests are corrupt: %w; delete it", s.Namespace, s.Name, err)
	}
	// A Secret holds at most 1 MiB; gzip expands at most about 1000
	// times, and no real release is near the bound. It stops a crafted
	// record from exhausting memory.
	data, err := io.ReadAll(io.LimitReader(zr, maxManifests+1))
	if err != nil {
		return nil, fmt.Errorf("release record %s/%s: manifests are corrupt: %w; delete it", s.Namespace, s.Name, err)
	}
	if len(data) > maxManifests {
		return nil, fmt.Errorf("release record %s/%s: manifests expand beyond %d MiB; refusing the record: delete it", s.Namespace, s.Name, maxManifests>>20)
	}
	return data, nil
}

func parseManifests(plain []byte, rev int) ([]manifest.Object, error) {
	return manifest.Parse(plain, fmt.Sprintf("revision %d", rev))
}

// LastDeployed returns the newest revision of app older than before that
// deployed successfully, or nil.
func (r *Records) LastDeployed(ctx context.Context, namespace, app string, before int) (*Record, error) {
	recs, err := r.List(ctx, namespace, app)
	if err != nil {
		return nil, err
	}
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Revision < before && recs[i].Status == RecordDeployed {
			return &recs[i], nil
		}
	}
	return nil, nil
}

// newest returns app's newest record in namespace, nil when there is none.
func (r *Records) newest(ctx context.Context, namespace, app string) (*Record, error) {
	secrets, err := r.list(ctx, namespace, app)
	if err != nil || len(secrets) == 0 {
		return nil, err
	}
	return decodeRecord(&secrets[len(secrets)-1])
}

// encodeManifests returns the stored form of objs and its SHA-256.
func encodeManifests(objs []manifest.Object) (gz []byte, sum string, err error) {
	plain, sum, err := plainManifests(objs)
	if err != nil {
		return nil, "", err
	}
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
	if _, err := zw.Write(plain); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return out.Bytes(), sum, nil
}

// plainManifests returns objs as the YAML stream a record stores, and its
// SHA-256.
func plainManifests(objs []manifest.Object) ([]byte, string, error) {
	var plain bytes.Buffer
	if err := manifest.Encode(&plain, objs); err != nil {
		return nil, "", err
	}
	h := sha256.Sum256(plain.Bytes())
	return plain.Bytes(), hex.EncodeToString(h[:]), nil
}

func recordSecret(rec *Record, gz []byte) (*corev1.Secret, error) {
	data, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      RecordName(rec.App, rec.Revision),
			Namespace: rec.Namespace,
			Labels: map[string]string{
				LabelManagedBy: ManagedBy,
				LabelRole:      "release",
				LabelApp:       rec.App,
				LabelRevision:  strconv.Itoa(rec.Revision),
				LabelStatus:    string(rec.Status),
			},
		},
		Type: RecordType,
		Data: map[string][]byte{recordKey: data, manifestsKey: gz},
	}, nil
}

// create writes rec as the next revision (setting rec.Revision), retrying
// when a concurrent apply took the number.
func (r *Records) create(ctx context.Context, rec *Record, objs []manifest.Object, key []byte, keyName string) error {
	gz, sum, err := encodeManifests(objs)
	if err != nil {
		return fmt.Errorf("encoding the release record: %w", err)
	}
	rec.ManifestsSHA256, rec.Objects = sum, len(objs)
	existing, err := r.list(ctx, rec.Namespace, rec.App)
	if err != nil {
		return err
	}
	next := 1
	if n := len(existing); n > 0 {
		next = revisionOf(&existing[n-1]) + 1
	}
	for attempt := 0; attempt < 5; attempt, next = attempt+1, next+1 {
		rec.Revision = next
		sign(rec, key, keyName)
		s, err := recordSecret(rec, gz)
		if err != nil {
			return err
		}
		_, err = r.client.CoreV1().Secrets(rec.Namespace).Create(ctx, s, metav1.CreateOptions{FieldManager: FieldManager})
		if apierrors.IsAlreadyExists(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("writing release record %s/%s: %w", rec.Namespace, s.Name, err)
		}
		return nil
	}
	return fmt.Errorf("writing a release record of %q in namespace %q: revision numbers keep being taken by concurrent applies; retry", rec.App, rec.Namespace)
}

// update rewrites rec's status and message.
func (r *Records) update(ctx context.Context, rec *Record) error {
	name := RecordName(rec.App, rec.Revision)
	s, err := r.client.CoreV1().Secrets(rec.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("updating release record %s/%s: %w", rec.Namespace, name, err)
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	s.Data[recordKey] = data
	s.Labels[LabelStatus] = string(rec.Status)
	if _, err := r.client.CoreV1().Secrets(rec.Namespace).Update(ctx, s, metav1.UpdateOptions{FieldManager: FieldManager}); err != nil {
		return fmt.Errorf("updating release record %s/%s: %w", rec.Namespace, name, err)
	}
	return nil
}

// trim deletes all but the newest keep records (keep 0 keeps all).
func (r *Records) trim(ctx context.Context, namespace, app string, keep int) error {
	if keep <= 0 {
		return nil
	}
	return r.deleteOldest(ctx, namespace, app, keep)
}

// deleteAll deletes every record of app in namespace.
func (r *Records) deleteAll(ctx context.Context, namespace, app string) error {
	return r.deleteOldest(ctx, namespace, app, 0)
}

func (r *Records) deleteOldest(ctx context.Context, namespace, app string, keep int) error {
	secrets, err := r.list(ctx, namespace, app)
	if err != nil {
		return err
	}
	for i := 0; i < len(secrets)-keep; i++ {
		err := r.client.CoreV1().Secrets(namespace).Delete(ctx, secrets[i].Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting release record %s/%s: %w", namespace, secrets[i].Name, err)
		}
	}
	return nil
}

// checkWritable dry-runs the creation of a record.
func (r *Records) checkWritable(ctx context.Context, namespace, app string) error {
	s, err := recordSecret(&Record{App: app, Namespace: namespace, Revision: 0}, nil)
	if err != nil {
		return err
	}
	_, err = r.client.CoreV1().Secrets(namespace).Create(ctx, s, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// whoAmI asks the API server who the caller is; "" when it cannot tell.
func whoAmI(ctx context.Context, client kubeclient.Interface) string {
	res, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return ""
	}
	return res.Status.UserInfo.Username
}

// Images lists the container images of the workloads in objs, sorted: what
// a release record and a deploy report name.
func Images(objs []manifest.Object) []string {
	seen := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch t := v.(type) {
		case map[string]any:
			for k, child := range t {
				if k == "containers" || k == "initContainers" || k == "ephemeralContainers" {
					if list, ok := child.([]any); ok {
						for _, c := range list {
							if m, ok := c.(map[string]any); ok {
								if img, ok := m["image"].(string); ok && img != "" {
									seen[img] = true
								}
							}
						}
					}
				}
				walk(child)
			}
		case []any:
			for _, child := range t {
				walk(child)
			}
		}
	}
	for _, o := range objs {
		if spec, ok, _ := unstructured.NestedFieldNoCopy(o.Object, "spec"); ok {
			walk(spec)
		}
	}
	out := make([]string, 0, len(seen))
	for img := range seen {
		out = append(out, img)
	}
	sort.Strings(out)
	return out
}

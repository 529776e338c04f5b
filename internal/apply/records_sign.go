package apply

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/skiff-dev/skiff/internal/manifest"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Release records live in the application's namespace, where anyone with
// the usual edit role may write Secrets. So that a rollback (skiff env
// rollback, onFailure: rollback) re-applies only what skiff itself
// recorded, each record carries an HMAC-SHA256 (Record.Signature) over its
// manifests' SHA-256 and the fields a rollback acts on, under a key kept
// outside the application's namespace: a Secret in KeyNamespace that only
// skiff's deployer (by resourceName, see env.RBAC) and cluster
// administrators can read. edit in the application's namespace grants
// nothing there. A record whose manifests, digest or signed fields were
// changed, or which someone wrote from scratch, fails the check; a record
// without a signature (an earlier skiff's, or a deploy that could not read
// the key) is refused as well, with what to do.
//
// Limits: whoever can read or write Secrets in KeyNamespace (cluster
// administrators, and whoever they grant it) can sign records; the status,
// message and re-apply notes of a record are not signed (they change after
// it is written), so an edit user can still mark a genuine failed revision
// as deployed and make onFailure: rollback pick it: that re-applies
// manifests skiff applied before, never foreign ones.

// KeyNamespace holds skiff's record signing keys.
const KeyNamespace = "skiff-system"

const (
	recordKeyField = "key"
	recordKeySize  = 32
	signatureLabel = "skiff release record v1\x00"
)

// ErrUnverified is wrapped by the errors of records that fail verification:
// unsigned, altered, forged, or not checkable because the key is out of
// reach.
var ErrUnverified = errors.New("rollback refused")

var nonKeyName = regexp.MustCompile(`[^a-z0-9-]+`)

// keyName is an injective Secret name for the parts: a readable prefix,
// then a hash of all parts, separated.
func keyName(scope string, parts ...string) string {
	sum := sha256.Sum256([]byte(scope + "\x00" + strings.Join(parts, "\x00")))
	readable := strings.Trim(nonKeyName.ReplaceAllString(strings.ToLower(strings.Join(parts, "-")), "-"), "-")
	if len(readable) > 100 {
		readable = strings.Trim(readable[:100], "-")
	}
	return "skiff.record-key.v1." + scope + "." + readable + "." + hex.EncodeToString(sum[:])[:16]
}

// RecordKeyName is the Secret in KeyNamespace whose key signs the records
// of app's environment: one key for all the namespaces of a dynamic
// environment, so its RBAC can name it in advance.
func RecordKeyName(app, environment string) string { return keyName("env", app, environment) }

// namespaceRecordKeyName is the key of app's records in namespace when
// applied outside an environment (Options.RecordKey empty).
func namespaceRecordKeyName(namespace, app string) string { return keyName("ns", namespace, app) }

// recordKeyOf is the name of the key opts' records are signed with.
func recordKeyOf(opts Options) string {
	if opts.RecordKey != "" {
		return opts.RecordKey
	}
	return namespaceRecordKeyName(opts.Namespace, opts.App)
}

// signedFields are what a record's signature covers: all a rollback acts
// on, fixed when the record is written.
type signedFields struct {
	Key             string            `json:"key"`
	App             string            `json:"app"`
	Namespace       string            `json:"namespace"`
	Revision        int               `json:"revision"`
	ManifestsSHA256 string            `json:"manifestsSHA256"`
	Objects         int               `json:"objects"`
	Commit          string            `json:"commit"`
	Tag             string            `json:"tag"`
	RollbackOf      int               `json:"rollbackOf"`
	Secrets         map[string]string `json:"secrets"` // marshalled with sorted keys
}

func signature(key []byte, keyName string, rec *Record) string {
	data, _ := json.Marshal(signedFields{
		Key: keyName, App: rec.App, Namespace: rec.Namespace, Revision: rec.Revision,
		ManifestsSHA256: rec.ManifestsSHA256, Objects: rec.Objects, Commit: rec.Commit, Tag: rec.Tag,
		RollbackOf: rec.RollbackOf, Secrets: rec.Secrets,
	})
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signatureLabel))
	m.Write(data)
	return hex.EncodeToString(m.Sum(nil))
}

// sign sets rec's signature (none without a key).
func sign(rec *Record, key []byte, keyName string) {
	rec.Signature, rec.SignedWith = "", ""
	if key != nil {
		rec.Signature, rec.SignedWith = signature(key, keyName, rec), keyName
	}
}

// errKeyUnavailable means the caller may not read (or create) the key.
type errKeyUnavailable struct {
	name string
	err  error
}

func (e *errKeyUnavailable) Error() string {
	return fmt.Sprintf("the record key %s/%s is out of reach: %v", KeyNamespace, e.name, e.err)
}

func (e *errKeyUnavailable) Unwrap() error { return e.err }

// recordKey returns the key named name in KeyNamespace. With create, a
// missing key (and its namespace) is made, as the caller; without, a
// missing key is an error. An *errKeyUnavailable says the caller may not.
func (r *Records) recordKey(ctx context.Context, name string, create bool) ([]byte, error) {
	s, err := r.client.CoreV1().Secrets(KeyNamespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && create {
		s, err = r.createRecordKey(ctx, name)
	}
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || (apierrors.IsNotFound(err) && !create) {
		return nil, &errKeyUnavailable{name: name, err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("reading the record key %s/%s: %w", KeyNamespace, name, err)
	}
	key := s.Data[recordKeyField]
	if len(key) < recordKeySize {
		return nil, fmt.Errorf("the record key %s/%s is malformed (want %d bytes under %q): an administrator must delete it and deploy again (records it signed can then no longer be rolled back to)", KeyNamespace, name, recordKeySize, recordKeyField)
	}
	return key, nil
}

func (r *Records) createRecordKey(ctx context.Context, name string) (*corev1.Secret, error) {
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: KeyNamespace, Labels: map[string]string{LabelManagedBy: ManagedBy}}}
	if _, err := r.client.CoreV1().Namespaces().Create(ctx, nsObj, metav1.CreateOptions{FieldManager: FieldManager}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	key := make([]byte, recordKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: KeyNamespace, Labels: map[string]string{LabelManagedBy: ManagedBy, LabelRole: "record-key"}},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{recordKeyField: key},
	}
	created, err := r.client.CoreV1().Secrets(KeyNamespace).Create(ctx, s, metav1.CreateOptions{FieldManager: FieldManager})
	if apierrors.IsAlreadyExists(err) { // a concurrent apply made it
		return r.client.CoreV1().Secrets(KeyNamespace).Get(ctx, name, metav1.GetOptions{})
	}
	return created, err
}

// EnsureRecordKey makes the record key name in KeyNamespace unless it
// exists: what skiff env rbac --apply does as the administrator, so a
// deployer that may only read its key finds it on its first deploy.
func (r *Records) EnsureRecordKey(ctx context.Context, name string) error {
	_, err := r.recordKey(ctx, name, true)
	var ku *errKeyUnavailable
	if errors.As(err, &ku) {
		return fmt.Errorf("creating the record key %s/%s: %w", KeyNamespace, name, ku.err)
	}
	return err
}

// verify checks rec (read from Secret name) against key keyName; the
// manifests' SHA-256 has been checked against the stored manifests.
func verify(rec *Record, namespace, name, keyName string, key []byte) error {
	where := namespace + "/" + name
	if rec.Signature == "" {
		return fmt.Errorf("%w: release record %s is not signed (written by an earlier skiff, by a deploy that could not read its key, or by someone else); skiff re-applies only records it signed; nothing was applied: deploy that revision again (skiff env deploy) instead of rolling back to it", ErrUnverified, where)
	}
	if rec.SignedWith != keyName {
		return fmt.Errorf("%w: release record %s says it is signed with key %s, not %s/%s, this deploy's key (was it deployed outside this environment, or forged?); nothing was applied: deploy the revision you want again", ErrUnverified, where, rec.SignedWith, KeyNamespace, keyName)
	}
	want := signature(key, keyName, rec)
	if !hmac.Equal([]byte(want), []byte(rec.Signature)) {
		return fmt.Errorf("%w: release record %s fails its signature check: it was changed after skiff wrote it, or forged; nothing was applied: delete it and deploy a known revision again", ErrUnverified, where)
	}
	return nil
}

// Verified returns revision rev of app in namespace and its manifests once
// both are verified: the manifests match the record's SHA-256 and the
// record's signature checks out under the key keyName in KeyNamespace. The
// error names the record and says what to do.
func (r *Records) Verified(ctx context.Context, namespace, app string, rev int, keyName string) (*Record, []manifest.Object, error) {
	name := RecordName(app, rev)
	s, err := r.client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("reading revision %d of %q in namespace %q: %w", rev, app, namespace, err)
	}
	rec, err := decodeRecord(s)
	if err != nil {
		return nil, nil, err
	}
	if rec.App != app || rec.Namespace != namespace || rec.Revision != rev {
		return nil, nil, fmt.Errorf("%w: release record %s/%s claims to be revision %d of %q in namespace %q; nothing was applied: delete it", ErrUnverified, namespace, name, rec.Revision, rec.App, rec.Namespace)
	}
	plain, err := storedManifests(s)
	if err != nil {
		return nil, nil, err
	}
	if sum := sha256.Sum256(plain); hex.EncodeToString(sum[:]) != rec.ManifestsSHA256 {
		return nil, nil, fmt.Errorf("%w: release record %s/%s: its manifests do not match its SHA-256 (changed after skiff wrote them); nothing was applied: delete it and deploy a known revision again", ErrUnverified, namespace, name)
	}
	if rec.Signature != "" || rec.SignedWith != "" {
		key, err := r.recordKey(ctx, keyName, false)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: release record %s/%s cannot be checked: %v; nothing was applied: the deployer needs get on that Secret (skiff env rbac ENVIRONMENT --apply grants it and creates the key)", ErrUnverified, namespace, name, err)
		}
		if err := verify(rec, namespace, name, keyName, key); err != nil {
			return nil, nil, err
		}
	} else if err := verify(rec, namespace, name, keyName, nil); err != nil {
		return nil, nil, err
	}
	objs, err := parseManifests(plain, rev)
	if err != nil {
		return nil, nil, err
	}
	return rec, objs, nil
}

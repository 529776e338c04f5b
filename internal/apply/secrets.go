package apply

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Secrets that come from a vault (Options.Secrets) are applied like any
// object and listed in the inventory, so prune and delete treat them like
// the rest; but they never enter a release record's manifests. The record
// keeps, per Secret key, an HMAC-SHA256 of the value under a key of the
// application's (the Secret skiff.key.v1.<app> in its namespace): history
// shows when a value changed, and whoever reads the records cannot test
// guesses of a weak value offline without also being able to read that key.
//
// A rollback re-applies a record's manifests and keeps the live Secrets it
// lists as they are (Options.keep): the vault is the source of truth for
// values, a rotated credential must not come back, and a rollback after a
// failure must not need the vault.

const (
	digestKeyField = "key"
	digestKeySize  = 32
)

// DigestKeyName is the Secret holding app's digest key.
func DigestKeyName(app string) string { return "skiff.key.v1." + app }

// checkSecretObjects makes sure Options.Secrets holds only Secrets.
func checkSecretObjects(opts Options) error {
	for _, s := range opts.Secrets {
		if gk := s.GroupKind(); gk.Group != "" || gk.Kind != "Secret" {
			return fmt.Errorf("%s is not a Secret: only Secrets may be applied as secrets", s.ID())
		}
	}
	return nil
}

// digestKey returns app's digest key in namespace, creating it on first use.
func (r *Records) digestKey(ctx context.Context, namespace, app string) ([]byte, error) {
	name := DigestKeyName(app)
	s, err := r.client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		key := make([]byte, digestKeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		s = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{
				LabelManagedBy: ManagedBy, LabelRole: "key", LabelApp: app,
			}},
			Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{digestKeyField: key},
		}
		created, cerr := r.client.CoreV1().Secrets(namespace).Create(ctx, s, metav1.CreateOptions{FieldManager: FieldManager})
		if apierrors.IsAlreadyExists(cerr) {
			return r.digestKey(ctx, namespace, app) // a concurrent apply made it
		}
		s, err = created, cerr
	}
	if err != nil {
		return nil, fmt.Errorf("reading the digest key %s/%s: %w", namespace, name, err)
	}
	key := s.Data[digestKeyField]
	if len(key) < digestKeySize {
		return nil, fmt.Errorf("the digest key %s/%s is malformed (want %d bytes under %q); delete it and deploy again", namespace, name, digestKeySize, digestKeyField)
	}
	return key, nil
}

// deleteDigestKey deletes app's digest key, with its records.
func (r *Records) deleteDigestKey(ctx context.Context, namespace, app string) error {
	err := r.client.CoreV1().Secrets(namespace).Delete(ctx, DigestKeyName(app), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting the digest key %s/%s: %w", namespace, DigestKeyName(app), err)
	}
	return nil
}

// secretDigests returns the digests a record keeps for the plan's vault
// Secrets and the live Secrets it keeps: "name/key" → keyed digest.
func (a *Applier) secretDigests(ctx context.Context, p *plan, opts Options) (map[string]string, error) {
	if len(opts.Secrets) == 0 && len(p.keep) == 0 {
		return nil, nil
	}
	key, err := a.records.digestKey(ctx, opts.Namespace, opts.App)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, it := range p.items {
		if it.secret {
			if err := addDigests(out, key, it.obj); err != nil {
				return nil, err
			}
		}
	}
	for _, r := range p.keep {
		s, err := a.core.CoreV1().Secrets(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading the kept %s: %w", r, err)
		}
		for k, v := range s.Data {
			out[r.Name+"/"+k] = digest(key, r.Name, k, v)
		}
	}
	return out, nil
}

func addDigests(out map[string]string, key []byte, u *unstructured.Unstructured) error {
	data, _, _ := unstructured.NestedMap(u.Object, "data")
	for k, v := range data {
		s, _ := v.(string)
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return fmt.Errorf("key %s of Secret %s: data is not base64", k, u.GetName())
		}
		out[u.GetName()+"/"+k] = digest(key, u.GetName(), k, b)
	}
	str, _, _ := unstructured.NestedStringMap(u.Object, "stringData")
	for k, v := range str {
		out[u.GetName()+"/"+k] = digest(key, u.GetName(), k, []byte(v))
	}
	return nil
}

// digest is the keyed digest of one value of Secret name: truncated to 128
// bits, plenty to tell values apart.
func digest(key []byte, name, k string, value []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(name + "/" + k + "\x00"))
	m.Write(value)
	return hex.EncodeToString(m.Sum(nil))[:32]
}

// keptSecrets are the Secrets a record lists digests for: a rollback to it
// keeps them live.
func keptSecrets(rec *Record) []ObjectRef {
	seen := map[string]bool{}
	var out []ObjectRef
	for nk := range rec.Secrets {
		name, _, _ := strings.Cut(nk, "/")
		if !seen[name] {
			seen[name] = true
			out = append(out, ObjectRef{Kind: "Secret", Namespace: rec.Namespace, Name: name})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// secretRefs are the Secrets of opts.Secrets, in opts.Namespace unless
// they name their own.
func secretRefs(opts Options) []ObjectRef {
	out := make([]ObjectRef, 0, len(opts.Secrets))
	for _, s := range opts.Secrets {
		ns := s.GetNamespace()
		if ns == "" {
			ns = opts.Namespace
		}
		out = append(out, ObjectRef{Kind: "Secret", Namespace: ns, Name: s.GetName()})
	}
	return out
}

package apply

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-dev/skiff/internal/kubeclient"
)

// LabelRole tells skiff's own objects apart: "inventory" or "release".
const LabelRole = "skiff.dev/role"

const inventoryKey = "objects"

// Inventory is the set of objects an application owns, recorded in the
// ConfigMap skiff-<app> of its namespace. The objects may live in other
// namespaces or be cluster-scoped.
type Inventory struct {
	App, Namespace string
	Objects        []ObjectRef // sorted
	// Exists is false when the application was never applied there.
	Exists bool
}

// InventoryName is the name of app's inventory ConfigMap.
func InventoryName(app string) string { return "skiff-" + app }

// ID is the value of the AnnotationInventory mark of the inventory's objects.
func (inv *Inventory) ID() string { return inventoryID(inv.Namespace, inv.App) }

func inventoryID(namespace, app string) string { return namespace + "/" + app }

var configMaps = mapping{gvr: schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, namespaced: true}

// ReadInventory reads app's inventory in namespace. A missing inventory is
// an empty one with Exists false.
func ReadInventory(ctx context.Context, client kubeclient.Interface, namespace, app string) (*Inventory, error) {
	inv := &Inventory{App: app, Namespace: namespace}
	cm, err := client.CoreV1().ConfigMaps(namespace).Get(ctx, InventoryName(app), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return inv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the inventory ConfigMap %s/%s: %w", namespace, InventoryName(app), err)
	}
	inv.Exists = true
	for _, line := range strings.Split(cm.Data[inventoryKey], "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		ref, err := parseRef(line)
		if err != nil {
			return nil, fmt.Errorf("reading the inventory ConfigMap %s/%s: %w; fix or delete the ConfigMap", namespace, InventoryName(app), err)
		}
		inv.Objects = append(inv.Objects, ref)
	}
	return inv, nil
}

// object is the inventory as a ConfigMap listing refs, for server-side apply.
func inventoryObject(namespace, app string, refs []ObjectRef) *unstructured.Unstructured {
	refs = sortedRefs(refs)
	lines := make([]string, len(refs))
	for i, r := range refs {
		lines[i] = r.key()
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata": map[string]any{
			"name":      InventoryName(app),
			"namespace": namespace,
			"labels": map[string]any{
				LabelManagedBy: ManagedBy,
				LabelApp:       app,
				LabelRole:      "inventory",
			},
		},
		"data": map[string]any{inventoryKey: strings.Join(lines, "\n")},
	}}
	return u
}

// writeInventory records refs as app's inventory.
func (a *Applier) writeInventory(ctx context.Context, namespace, app string, refs []ObjectRef) error {
	if _, _, err := a.ssa(ctx, configMaps, inventoryObject(namespace, app, refs), true, false); err != nil {
		return fmt.Errorf("writing the inventory ConfigMap %s/%s: %w", namespace, InventoryName(app), err)
	}
	return nil
}

func sortedRefs(refs []ObjectRef) []ObjectRef {
	seen := map[string]bool{}
	out := make([]ObjectRef, 0, len(refs))
	for _, r := range refs {
		if !seen[r.key()] {
			seen[r.key()] = true
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	return out
}

// union is a ∪ b; minus is a − b.
func union(a, b []ObjectRef) []ObjectRef {
	return sortedRefs(append(append([]ObjectRef{}, a...), b...))
}

func minus(a, b []ObjectRef) []ObjectRef {
	drop := map[string]bool{}
	for _, r := range b {
		drop[r.key()] = true
	}
	var out []ObjectRef
	for _, r := range a {
		if !drop[r.key()] {
			out = append(out, r)
		}
	}
	return out
}

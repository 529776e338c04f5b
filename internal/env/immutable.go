package env

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/kube"
)

// MarkImmutable labels the existing namespaces of p's long-lived
// environments that have immutableNamespace: true with
// skiff.dev/immutable=true (skiff env protect), and returns the
// environments and namespaces it labelled. user and vars are what
// namespace templates see.
func MarkImmutable(ctx context.Context, c *kube.Clients, p *config.Project, user string, vars map[string]string) ([]*Target, error) {
	var done []*Target
	for _, e := range p.Environments() {
		if !e.ImmutableNamespace || e.Dynamic {
			continue
		}
		t, err := Resolve(p.Name(), e, Ref{}, user, vars, time.Now())
		if err != nil {
			return done, err
		}
		if _, ok, err := GetNamespace(ctx, c.Core, t.Namespace); err != nil || !ok {
			continue
		}
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{LabelImmutable: "true"}}})
		if _, err := c.Core.CoreV1().Namespaces().Patch(ctx, t.Namespace, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "skiff"}); err != nil {
			return done, fmt.Errorf("labelling namespace %s immutable: %w", t.Namespace, err)
		}
		done = append(done, t)
	}
	return done, nil
}

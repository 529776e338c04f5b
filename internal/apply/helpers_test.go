package apply_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/manifest"
	"github.com/skiff-dev/skiff/internal/testenv"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// cluster is one test's view of the sandbox.
type cluster struct {
	env *testenv.Env
	cfg *rest.Config
	ns  string
}

func newCluster(t *testing.T, prefix string) *cluster {
	t.Helper()
	env := testenv.Require(t)
	cfg, err := env.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	return &cluster{env: env, cfg: cfg, ns: env.Namespace(t, prefix)}
}

func (c *cluster) applier(t *testing.T) *apply.Applier {
	t.Helper()
	a, err := apply.New(c.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// options are fast defaults for tests: a short deadline that a healthy
// kwok rollout never comes near.
func (c *cluster) options(app string) apply.Options {
	o := apply.DefaultOptions()
	o.App, o.Namespace = app, c.ns
	o.StatusCheckDeadline = 2 * time.Minute
	return o
}

// parse reads YAML with {{ns}} replaced by the test namespace.
func (c *cluster) parse(t *testing.T, y string) []manifest.Object {
	t.Helper()
	objs, err := manifest.Parse([]byte(strings.ReplaceAll(y, "{{ns}}", c.ns)), t.Name()+".yaml")
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func actions(changes []apply.Change) map[string]apply.Action {
	out := map[string]apply.Action{}
	for _, c := range changes {
		out[c.Object.String()] = c.Action
	}
	return out
}

// deployment is a Deployment with pod template annotations, for kwok stages.
func deployment(name, image string, replicas int, podAnnotations map[string]string) string {
	var ann strings.Builder
	for k, v := range podAnnotations {
		fmt.Fprintf(&ann, "        %s: %q\n", k, v)
	}
	annotations := ""
	if ann.Len() > 0 {
		annotations = "      annotations:\n" + ann.String()
	}
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: %[3]d
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata:
      labels: {app: %[1]s}
%[4]s    spec:
      containers:
      - name: app
        image: %[2]s
`, name, image, replicas, annotations)
}

// waitingStage keeps the pods of the test namespace annotated
// testenv.WaitingAnnotation waiting with the annotation's reason.
func (c *cluster) waitingStage(t *testing.T) {
	t.Helper()
	c.env.WaitingStage(t, c.ns)
}

func (c *cluster) listNames(t *testing.T, ctx context.Context, resource string) []string {
	t.Helper()
	cs := c.env.Clientset(t)
	var names []string
	switch resource {
	case "replicasets":
		l, err := cs.AppsV1().ReplicaSets(c.ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range l.Items {
			names = append(names, o.Name)
		}
	case "configmaps":
		l, err := cs.CoreV1().ConfigMaps(c.ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range l.Items {
			if o.Name != "kube-root-ca.crt" {
				names = append(names, o.Name)
			}
		}
	default:
		t.Fatalf("listNames: unsupported %s", resource)
	}
	return names
}

// cleanupNamespace deletes namespace at the end of the test, for namespaces
// a test makes skiff create (or must not, if it fails).
func (c *cluster) cleanupNamespace(t *testing.T, namespace string) {
	cs := c.env.Clientset(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = cs.CoreV1().Namespaces().Delete(ctx, namespace, metav1.DeleteOptions{})
	})
}

func (c *cluster) parseConfigMap(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"k": "v"}}
}

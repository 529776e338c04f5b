package kubeclient_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-dev/skiff/internal/kubeclient"
	"github.com/skiff-dev/skiff/internal/testenv"
)

func TestNewForConfigNeedsBurstWithQPS(t *testing.T) {
	_, err := kubeclient.NewForConfig(&rest.Config{Host: "https://127.0.0.1:1", QPS: 5})
	if err == nil || !strings.Contains(err.Error(), "burst") {
		t.Fatalf("QPS without burst: got %v, want an error naming burst", err)
	}
}

// TestClientsetAndInformer talks to the sandbox's API server through the
// slim clientset: discovery, a typed group, and an informer whose list and
// watch carry the label selector.
func TestClientsetAndInformer(t *testing.T) {
	env := testenv.Require(t)
	cfg, err := env.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubeclient.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	v, err := cs.Discovery().ServerVersion()
	if err != nil || v.GitVersion == "" {
		t.Fatalf("server version: %v %v", v, err)
	}
	ns := env.Namespace(t, "kubeclient")
	secret := func(name string, labels map[string]string) {
		t.Helper()
		_, err := cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	secret("before", map[string]string{"pick": "yes"})
	secret("other", nil)

	seen := make(chan string, 8)
	inf := kubeclient.NewInformer[*corev1.SecretList](cs.CoreV1().Secrets(ns), &corev1.Secret{}, func(o *metav1.ListOptions) {
		o.LabelSelector = "pick=yes"
	})
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { seen <- obj.(*corev1.Secret).Name },
	}); err != nil {
		t.Fatal(err)
	}
	ictx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); inf.RunWithContext(ictx) }()
	defer func() { stop(); <-done }()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("informer did not sync")
	}
	secret("after", map[string]string{"pick": "yes"})
	secret("other2", nil)
	// A sentinel added last: once it is seen, every earlier event has been.
	secret("zlast", map[string]string{"pick": "yes"})
	var got []string
	for len(got) == 0 || got[len(got)-1] != "zlast" {
		select {
		case name := <-seen:
			got = append(got, name)
		case <-ctx.Done():
			t.Fatalf("informer saw %v, and not zlast within a minute", got)
		}
	}
	if strings.Join(got, ",") != "before,after,zlast" {
		t.Fatalf("informer saw %v, want [before after zlast] (the selector's objects, in order)", got)
	}
}

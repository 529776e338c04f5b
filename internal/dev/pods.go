package dev

import (
	"context"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-dev/skiff/internal/kubeclient"
	"github.com/skiff-dev/skiff/internal/manifest"
)

// Pods follows the pods of the deployed workloads, with one watch per
// namespace. skiff puts no per-run label on pod templates (that would
// restart every pod on every deploy), so pods are selected by their
// workloads' own selectors.
type Pods struct {
	client kubeclient.Interface

	mu        sync.Mutex
	selectors []podSelector
	informers map[string]cache.SharedIndexInformer
	handlers  []func(pod *corev1.Pod, deleted bool)
	wg        sync.WaitGroup
}

// podSelector selects pods of one workload: by label selector, or by
// name for a bare Pod.
type podSelector struct {
	namespace string
	selector  labels.Selector
	name      string
}

func (s podSelector) matches(pod *corev1.Pod) bool {
	if pod.Namespace != s.namespace {
		return false
	}
	if s.selector == nil {
		return pod.Name == s.name
	}
	return s.selector.Matches(labels.Set(pod.Labels))
}

// NewPods returns a Pods that selects nothing yet.
func NewPods(client kubeclient.Interface) *Pods {
	return &Pods{client: client, informers: map[string]cache.SharedIndexInformer{}}
}

// OnChange registers fn to be called, from the watches' goroutines, for
// every change of a selected pod.
func (p *Pods) OnChange(fn func(pod *corev1.Pod, deleted bool)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.handlers = append(p.handlers, fn)
}

// Select makes the pods of objs' workloads the selected ones, starting a
// watch for each new namespace (stopped when ctx ends), and reports the
// pods already known to the handlers. Objects without a namespace are in
// defaultNS.
func (p *Pods) Select(ctx context.Context, objs []manifest.Object, defaultNS string) {
	sels := workloadSelectors(objs, defaultNS)
	p.mu.Lock()
	p.selectors = sels
	for _, s := range sels {
		if _, ok := p.informers[s.namespace]; !ok {
			p.informers[s.namespace] = p.start(ctx, s.namespace)
		}
	}
	p.mu.Unlock()
	for _, pod := range p.Selected() {
		p.notify(pod, false)
	}
}

// Wait waits for the watches to stop after their context ended.
func (p *Pods) Wait() { p.wg.Wait() }

func (p *Pods) start(ctx context.Context, ns string) cache.SharedIndexInformer {
	pods := p.client.CoreV1().Pods(ns)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return pods.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return pods.Watch(ctx, o)
		},
	}
	inf := cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{})
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { p.changed(obj, false) },
		UpdateFunc: func(_, obj any) { p.changed(obj, false) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			p.changed(obj, true)
		},
	})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		inf.RunWithContext(ctx)
	}()
	return inf
}

func (p *Pods) changed(obj any, deleted bool) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || !p.selected(pod) {
		return
	}
	p.notify(pod, deleted)
}

func (p *Pods) notify(pod *corev1.Pod, deleted bool) {
	p.mu.Lock()
	handlers := append([]func(*corev1.Pod, bool){}, p.handlers...)
	p.mu.Unlock()
	for _, h := range handlers {
		h(pod, deleted)
	}
}

func (p *Pods) selected(pod *corev1.Pod) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.selectors {
		if s.matches(pod) {
			return true
		}
	}
	return false
}

// Selected lists the selected pods the watches know, oldest first.
func (p *Pods) Selected() []*corev1.Pod {
	p.mu.Lock()
	infs := make([]cache.SharedIndexInformer, 0, len(p.informers))
	for _, inf := range p.informers {
		infs = append(infs, inf)
	}
	p.mu.Unlock()
	var out []*corev1.Pod
	for _, inf := range infs {
		for _, obj := range inf.GetStore().List() {
			if pod, ok := obj.(*corev1.Pod); ok && p.selected(pod) {
				out = append(out, pod)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		ti, tj := out[i].CreationTimestamp, out[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name
	})
	return out
}

// workloadSelectors are the pod selectors of the workloads among objs.
func workloadSelectors(objs []manifest.Object, defaultNS string) []podSelector {
	var out []podSelector
	for _, o := range objs {
		u := o.Unstructured
		if u == nil {
			continue
		}
		ns := u.GetNamespace()
		if ns == "" {
			ns = defaultNS
		}
		gk := u.GroupVersionKind().GroupKind()
		switch {
		case gk.Group == "" && gk.Kind == "Pod":
			out = append(out, podSelector{namespace: ns, name: u.GetName()})
		case gk.Group == "" && gk.Kind == "ReplicationController":
			m, _, _ := unstructured.NestedStringMap(u.Object, "spec", "selector")
			if len(m) > 0 {
				out = append(out, podSelector{namespace: ns, selector: labels.SelectorFromSet(m)})
			}
		case gk.Group == "apps" || (gk.Group == "batch" && gk.Kind == "Job"):
			if s := labelSelector(u.Object, "spec"); s != nil {
				out = append(out, podSelector{namespace: ns, selector: s})
			}
		case gk.Group == "batch" && gk.Kind == "CronJob":
			if s := labelSelector(u.Object, "spec", "jobTemplate", "spec"); s != nil {
				out = append(out, podSelector{namespace: ns, selector: s})
			}
		}
	}
	return out
}

// labelSelector reads spec.selector under fields, else the pod template's
// labels (a Job's selector is usually generated); nil when neither selects
// anything.
func labelSelector(obj map[string]any, fields ...string) labels.Selector {
	if m, ok, _ := unstructured.NestedMap(obj, append(fields, "selector")...); ok {
		var ls metav1.LabelSelector
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &ls); err == nil && (len(ls.MatchLabels) > 0 || len(ls.MatchExpressions) > 0) {
			if s, err := metav1.LabelSelectorAsSelector(&ls); err == nil {
				return s
			}
		}
	}
	if m, _, _ := unstructured.NestedStringMap(obj, append(fields, "template", "metadata", "labels")...); len(m) > 0 {
		return labels.SelectorFromSet(m)
	}
	return nil
}

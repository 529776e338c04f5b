package dev

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/kubeclient"
)

// logTailer streams the logs of every container of the selected pods,
// starting a stream when a container starts (or restarts) and stopping the
// pod's streams when it is deleted.
type logTailer struct {
	ctx    context.Context
	client kubeclient.Interface
	start  time.Time
	emit   func(Event)

	mu      sync.Mutex
	streams map[string]context.CancelFunc // by streamKey
	wg      sync.WaitGroup
}

func newLogTailer(ctx context.Context, client kubeclient.Interface, emit func(Event)) *logTailer {
	return &logTailer{ctx: ctx, client: client, start: time.Now(), emit: emit, streams: map[string]context.CancelFunc{}}
}

func podKey(pod *corev1.Pod) string {
	return pod.Namespace + "/" + pod.Name + "/" + string(pod.UID) + "/"
}

// podChanged is a Pods handler.
func (t *logTailer) podChanged(pod *corev1.Pod, deleted bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if deleted {
		prefix := podKey(pod)
		for k, cancel := range t.streams {
			if strings.HasPrefix(k, prefix) {
				cancel()
				delete(t.streams, k)
			}
		}
		return
	}
	if t.ctx.Err() != nil {
		return
	}
	var statuses []corev1.ContainerStatus
	statuses = append(statuses, pod.Status.InitContainerStatuses...)
	statuses = append(statuses, pod.Status.ContainerStatuses...)
	statuses = append(statuses, pod.Status.EphemeralContainerStatuses...)
	for _, cs := range statuses {
		if cs.State.Running == nil && cs.State.Terminated == nil {
			continue
		}
		key := fmt.Sprintf("%s%s/%d", podKey(pod), cs.Name, cs.RestartCount)
		if _, ok := t.streams[key]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(t.ctx)
		t.streams[key] = cancel
		opts := &corev1.PodLogOptions{Container: cs.Name, Follow: true}
		// Pods from before this session (a namespace kept from the last
		// one) show what they logged since it started; new pods show
		// everything, whatever the skew between this clock and the node's.
		if pod.CreationTimestamp.Time.Before(t.start) && cs.RestartCount == 0 {
			opts.SinceTime = &metav1.Time{Time: t.start}
		}
		t.wg.Add(1)
		go func(ns, name string) {
			defer t.wg.Done()
			defer cancel()
			t.follow(ctx, ns, name, opts)
		}(pod.Namespace, pod.Name)
	}
}

func (t *logTailer) follow(ctx context.Context, ns, pod string, opts *corev1.PodLogOptions) {
	rc, err := t.client.CoreV1().Pods(ns).GetLogs(pod, opts).Stream(ctx)
	if err != nil {
		if ctx.Err() == nil {
			t.emit(Event{Kind: Warning, Message: fmt.Sprintf("no logs from pod/%s container %s: %v", pod, opts.Container, err)})
		}
		return
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		t.emit(Event{Kind: Log, Line: &LogLine{Namespace: ns, Pod: pod, Container: opts.Container, Text: sc.Text()}})
	}
}

// wait waits for the streams to end after the tailer's context ended.
func (t *logTailer) wait() { t.wg.Wait() }

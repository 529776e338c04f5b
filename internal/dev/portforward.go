package dev

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	//lint:ignore SA1019 client-go v0.37's spdy and portforward still return these types
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/skiff-dev/skiff/internal/kubeclient"
)

// PortForward is a resource to forward a local port to: config's
// portForward entries, and every Service with --port-forward.
type PortForward struct {
	// Kind is service, pod, deployment, statefulset, replicaset or daemonset.
	Kind, Name, Namespace string
	Port                  intstr.IntOrString
	// Address is the local address to listen on (default 127.0.0.1);
	// LocalPort the local port (default: Port when it is a number, else any
	// free port; another free port when it is taken).
	Address   string
	LocalPort int
}

func (f PortForward) key() string {
	return fmt.Sprintf("%s/%s/%s/%s/%s/%d", strings.ToLower(f.Kind), f.Namespace, f.Name, f.Port.String(), f.Address, f.LocalPort)
}

// forwarder owns a local listener and forwards each connection to a ready
// pod behind its resource, found anew for every connection: after a
// redeploy the same local port reaches the new pods.
type forwarder struct {
	spec   PortForward
	cfg    *rest.Config
	client kubeclient.Interface
	emit   func(Event)
	ln     net.Listener

	mu    sync.Mutex
	conns map[types.UID]httpstream.Connection
	reqID int
}

// listen opens the local listener: the requested port, else any free one.
func listen(spec PortForward) (net.Listener, error) {
	addr := spec.Address
	if addr == "" {
		addr = "127.0.0.1"
	}
	port := spec.LocalPort
	if port == 0 && spec.Port.Type == intstr.Int {
		port = spec.Port.IntValue()
	}
	if port > 0 {
		if ln, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port))); err == nil {
			return ln, nil
		}
	}
	return net.Listen("tcp", net.JoinHostPort(addr, "0"))
}

// serve accepts connections until ctx ends.
func (f *forwarder) serve(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		f.ln.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
	}()
	for {
		conn, err := f.ln.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			if err := f.handle(ctx, conn); err != nil && ctx.Err() == nil {
				f.emit(Event{Kind: ForwardFailed, Err: fmt.Errorf("%s/%s port %s: %w", strings.ToLower(f.spec.Kind), f.spec.Name, f.spec.Port.String(), err)})
			}
		}()
	}
}

func (f *forwarder) handle(ctx context.Context, local net.Conn) error {
	pod, err := f.targetPod(ctx)
	if err != nil {
		return err
	}
	port, err := f.podPort(ctx, pod)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		conn, err := f.connection(pod)
		if err != nil {
			return err
		}
		err = f.pipe(conn, local, pod, port)
		if err == nil || attempt > 0 || !errors.Is(err, errStream) {
			return err
		}
		f.drop(pod.UID, conn) // a stale connection: dial once more
	}
}

var errStream = errors.New("creating a stream")

// pipe copies between the local connection and a new pair of streams to
// the pod's port, as kubectl port-forward does.
func (f *forwarder) pipe(conn httpstream.Connection, local net.Conn, pod *corev1.Pod, port int32) error {
	f.mu.Lock()
	f.reqID++
	id := f.reqID
	f.mu.Unlock()
	h := http.Header{}
	h.Set(corev1.StreamType, corev1.StreamTypeError)
	h.Set(corev1.PortHeader, strconv.Itoa(int(port)))
	h.Set(corev1.PortForwardRequestIDHeader, strconv.Itoa(id))
	errStreamConn, err := conn.CreateStream(h)
	if err != nil {
		return fmt.Errorf("%w: %v", errStream, err)
	}
	errStreamConn.Close()
	defer conn.RemoveStreams(errStreamConn)
	remoteErr := make(chan []byte, 1)
	go func() {
		msg, _ := io.ReadAll(errStreamConn)
		remoteErr <- msg
	}()
	h.Set(corev1.StreamType, corev1.StreamTypeData)
	data, err := conn.CreateStream(h)
	if err != nil {
		return fmt.Errorf("%w: %v", errStream, err)
	}
	defer conn.RemoveStreams(data)
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(local, data)
		close(done)
	}()
	go func() {
		_, _ = io.Copy(data, local)
		data.Close()
	}()
	<-done
	_ = data.Reset()
	if msg := <-remoteErr; len(msg) > 0 {
		f.drop(pod.UID, conn)
		return fmt.Errorf("pod/%s port %d: %s", pod.Name, port, msg)
	}
	return nil
}

// connection returns the open port-forward connection to pod, dialing one
// (WebSocket tunnel, else SPDY) when there is none.
func (f *forwarder) connection(pod *corev1.Pod) (httpstream.Connection, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.conns[pod.UID]; ok {
		select {
		case <-c.CloseChan():
			delete(f.conns, pod.UID)
		default:
			return c, nil
		}
	}
	req := f.client.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("portforward")
	transport, upgrader, err := spdy.RoundTripperFor(f.cfg)
	if err != nil {
		return nil, err
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, req.URL())
	if tunnel, err := portforward.NewSPDYOverWebsocketDialer(req.URL(), f.cfg); err == nil {
		dialer = portforward.NewFallbackDialer(tunnel, dialer, func(err error) bool {
			return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
		})
	}
	c, _, err := dialer.Dial(portforward.PortForwardProtocolV1Name)
	if err != nil {
		return nil, fmt.Errorf("port-forward to pod/%s: %w", pod.Name, err)
	}
	// Connections go to the newest ready pod: one to an older pod (before
	// a redeploy) is not used again.
	for uid, old := range f.conns {
		old.Close()
		delete(f.conns, uid)
	}
	if f.conns == nil {
		f.conns = map[types.UID]httpstream.Connection{}
	}
	f.conns[pod.UID] = c
	return c, nil
}

func (f *forwarder) drop(uid types.UID, c httpstream.Connection) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conns[uid] == c {
		delete(f.conns, uid)
	}
	c.Close()
}

// targetPod finds a running, ready pod behind the resource, newest first.
func (f *forwarder) targetPod(ctx context.Context) (*corev1.Pod, error) {
	s, ns := f.spec, f.spec.Namespace
	var sel labels.Selector
	switch strings.ToLower(s.Kind) {
	case "pod":
		return f.client.CoreV1().Pods(ns).Get(ctx, s.Name, metav1.GetOptions{})
	case "service", "svc":
		svc, err := f.client.CoreV1().Services(ns).Get(ctx, s.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		if len(svc.Spec.Selector) == 0 {
			return nil, fmt.Errorf("service %s has no selector", s.Name)
		}
		sel = labels.SelectorFromSet(svc.Spec.Selector)
	default:
		ls, err := f.selectorOf(ctx, strings.ToLower(s.Kind), ns, s.Name)
		if err != nil {
			return nil, err
		}
		if sel, err = metav1.LabelSelectorAsSelector(ls); err != nil {
			return nil, err
		}
	}
	list, err := f.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, err
	}
	pods := list.Items
	sort.Slice(pods, func(i, j int) bool { return pods[j].CreationTimestamp.Before(&pods[i].CreationTimestamp) })
	for i := range pods {
		if p := &pods[i]; p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && podReady(p) {
			return p, nil
		}
	}
	return nil, fmt.Errorf("no running and ready pod for %s/%s in namespace %s", strings.ToLower(s.Kind), s.Name, ns)
}

func (f *forwarder) selectorOf(ctx context.Context, kind, ns, name string) (*metav1.LabelSelector, error) {
	apps := f.client.AppsV1()
	switch kind {
	case "deployment":
		o, err := apps.Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return o.Spec.Selector, nil
	case "statefulset":
		o, err := apps.StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return o.Spec.Selector, nil
	case "replicaset":
		o, err := apps.ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return o.Spec.Selector, nil
	case "daemonset":
		o, err := apps.DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return o.Spec.Selector, nil
	}
	return nil, fmt.Errorf("resourceType %q cannot be port-forwarded: use service, pod, deployment, statefulset, replicaset or daemonset", kind)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podPort resolves the forwarded port in pod: a Service's port is mapped
// to its targetPort; a name is looked up among the containers' ports.
func (f *forwarder) podPort(ctx context.Context, pod *corev1.Pod) (int32, error) {
	port := f.spec.Port
	if k := strings.ToLower(f.spec.Kind); k == "service" || k == "svc" {
		svc, err := f.client.CoreV1().Services(f.spec.Namespace).Get(ctx, f.spec.Name, metav1.GetOptions{})
		if err != nil {
			return 0, err
		}
		found := false
		for _, sp := range svc.Spec.Ports {
			if (port.Type == intstr.Int && sp.Port == port.IntVal) || (port.Type == intstr.String && sp.Name == port.StrVal) {
				port, found = sp.TargetPort, true
				if port.Type == intstr.Int && port.IntVal == 0 {
					port = intstr.FromInt32(sp.Port)
				}
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("service %s has no port %s", f.spec.Name, f.spec.Port.String())
		}
	}
	if port.Type == intstr.Int {
		return port.IntVal, nil
	}
	for _, c := range pod.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == port.StrVal {
				return cp.ContainerPort, nil
			}
		}
	}
	return 0, fmt.Errorf("pod/%s has no container port named %s", pod.Name, port.StrVal)
}

// forwards keeps one forwarder per PortForward, across redeploys.
type forwards struct {
	cfg    *rest.Config
	client kubeclient.Interface
	emit   func(Event)

	running map[string]*runningForward
	wg      sync.WaitGroup
}

type runningForward struct {
	cancel context.CancelFunc
}

func newForwards(cfg *rest.Config, client kubeclient.Interface, emit func(Event)) *forwards {
	return &forwards{cfg: cfg, client: client, emit: emit, running: map[string]*runningForward{}}
}

// set makes specs the forwarded resources: new ones start listening (and
// are reported), ones no longer wanted stop. Called from the loop only.
func (fs *forwards) set(ctx context.Context, specs []PortForward) {
	want := map[string]bool{}
	for _, spec := range specs {
		k := spec.key()
		want[k] = true
		if _, ok := fs.running[k]; ok {
			continue
		}
		ln, err := listen(spec)
		if err != nil {
			fs.emit(Event{Kind: ForwardFailed, Err: fmt.Errorf("%s/%s port %s: %w", strings.ToLower(spec.Kind), spec.Name, spec.Port.String(), err)})
			continue
		}
		fctx, cancel := context.WithCancel(ctx)
		fs.running[k] = &runningForward{cancel: cancel}
		f := &forwarder{spec: spec, cfg: fs.cfg, client: fs.client, emit: fs.emit, ln: ln}
		fs.wg.Add(1)
		go func() {
			defer fs.wg.Done()
			f.serve(fctx)
		}()
		fs.emit(Event{Kind: Forwarding, Forward: &Forward{
			Resource: strings.ToLower(spec.Kind) + "/" + spec.Name, Namespace: spec.Namespace, Port: spec.Port.String(), Local: ln.Addr().String(),
		}})
	}
	for k, r := range fs.running {
		if !want[k] {
			r.cancel()
			delete(fs.running, k)
		}
	}
}

// stop stops every forward and waits for them.
func (fs *forwards) stop() {
	for k, r := range fs.running {
		r.cancel()
		delete(fs.running, k)
	}
	fs.wg.Wait()
}

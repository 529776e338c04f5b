// Package ocitest runs an in-process OCI registry (go-containerregistry's
// pkg/registry) for tests of registry code: it counts the requests it
// serves, can fail some of them, and hands out a transport that reaches it
// under any registry name, so tests can use names that are not loopback
// without any traffic leaving the machine.
package ocitest

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Registry is an in-process registry serving plain HTTP or TLS (with a
// certificate no client trusts) on a loopback port.
type Registry struct {
	Server *httptest.Server
	// Fail, when set, may answer a request with a status instead of the
	// registry: n counts requests from 1.
	Fail     func(n int32, r *http.Request) (status int, failed bool)
	requests atomic.Int32
	mu       sync.Mutex
	plain    map[string]int // plain-HTTP registry requests by Host header
}

// New starts a registry; it stops when the test ends.
func New(t testing.TB, tls bool) *Registry {
	t.Helper()
	r := &Registry{}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n := r.requests.Add(1)
		if req.Method != http.MethodConnect && req.TLS == nil {
			r.mu.Lock()
			if r.plain == nil {
				r.plain = map[string]int{}
			}
			r.plain[req.Host]++
			r.mu.Unlock()
		}
		if r.Fail != nil {
			if status, failed := r.Fail(n, req); failed {
				w.WriteHeader(status)
				return
			}
		}
		reg.ServeHTTP(w, req)
	}))
	r.Server.Config.ErrorLog = log.New(io.Discard, "", 0) // refused TLS handshakes are expected
	if tls {
		r.Server.StartTLS()
	} else {
		r.Server.Start()
	}
	t.Cleanup(r.Server.Close)
	return r
}

// Host is the registry's loopback address, host:port.
func (r *Registry) Host() string {
	return strings.TrimPrefix(strings.TrimPrefix(r.Server.URL, "http://"), "https://")
}

// Requests is how many requests reached the registry since the last Reset.
func (r *Registry) Requests() int32 { return r.requests.Load() }

// PlainRequests is how many plain-HTTP registry requests (not proxy
// CONNECTs) named host — the registry a client addressed, through a proxy
// or a redirecting transport — reached the registry since it started.
func (r *Registry) PlainRequests(host string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.plain[host]
}

// Reset sets the request count to zero.
func (r *Registry) Reset() { r.requests.Store(0) }

// Push writes img (a small random image when nil) to Host()/repo (with a
// tag or digest), directly, and resets the request count.
func (r *Registry) Push(t testing.TB, repo string, img v1.Image) v1.Image {
	t.Helper()
	if img == nil {
		var err error
		if img, err = random.Image(64, 1); err != nil {
			t.Fatal(err)
		}
	}
	ref, err := name.ParseReference(r.Host() + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithTransport(r.Server.Client().Transport)); err != nil {
		t.Fatal(err)
	}
	r.Reset()
	return img
}

// Redirect is a transport that dials this registry whatever address a
// request names: no DNS lookup and no dial anywhere else.
func (r *Registry) Redirect() *http.Transport {
	addr := r.Server.Listener.Addr().String()
	var d net.Dialer
	return &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		TLSHandshakeTimeout: 5 * time.Second,
	}
}

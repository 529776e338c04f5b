package oci

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/skiff-dev/skiff/internal/oci/ocitest"
)

// flaky fails the first n round trips with a refused connection, as a
// restarting registry does.
type flaky struct {
	n    atomic.Int32
	next http.RoundTripper
}

func (f *flaky) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.n.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	return f.next.RoundTrip(r)
}

func testClient(opts Options) *Client {
	if opts.Keychain == nil {
		opts.Keychain = authn.NewMultiKeychain() // anonymous: no host credentials
	}
	opts.Backoff = time.Millisecond
	return New(opts)
}

func TestRetries(t *testing.T) {
	manifests := func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/manifests/") }
	tests := []struct {
		name        string
		fail        func(n int32, r *http.Request) (int, bool)
		refused     int32 // round trips refused before the registry is reached
		repo        string
		wantErr     func(error) bool
		minRequests int32
	}{
		{name: "503 twice, then the manifest", repo: "app:1", minRequests: 3,
			fail: func(n int32, r *http.Request) (int, bool) {
				return http.StatusServiceUnavailable, manifests(r) && n <= 3
			}},
		{name: "429 once", repo: "app:1",
			fail: func(n int32, r *http.Request) (int, bool) { return http.StatusTooManyRequests, manifests(r) && n <= 2 }},
		{name: "503 for ever", repo: "app:1", minRequests: 4,
			fail:    func(_ int32, r *http.Request) (int, bool) { return http.StatusServiceUnavailable, manifests(r) },
			wantErr: func(err error) bool { return strings.Contains(err.Error(), "503") }},
		{name: "not found is not retried", repo: "missing:1",
			wantErr: func(err error) bool { return errors.Is(err, ErrNotFound) }},
		{name: "forbidden is not retried", repo: "app:1",
			fail:    func(_ int32, r *http.Request) (int, bool) { return http.StatusForbidden, manifests(r) },
			wantErr: func(err error) bool { return strings.Contains(err.Error(), "403") }},
		{name: "connection refused twice", repo: "app:1", refused: 2},
		{name: "connection refused for ever", repo: "app:1", refused: 1000,
			wantErr: func(err error) bool {
				var ue *UnreachableError
				return errors.As(err, &ue) && ue.Attempts == 4 && errors.Is(err, syscall.ECONNREFUSED)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := ocitest.New(t, false)
			tr.Push(t, "app:1", nil)
			tr.Fail = tt.fail
			f := &flaky{next: tr.Server.Client().Transport}
			f.n.Store(tt.refused)
			c := testClient(Options{Transport: f})
			ref, err := c.ParseReference(tr.Host() + "/" + tt.repo)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Head(context.Background(), ref)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("Head: %v", err)
			case tt.wantErr != nil && (err == nil || !tt.wantErr(err)):
				t.Fatalf("Head: error %v is not the one expected", err)
			}
			if got := tr.Requests(); got < tt.minRequests {
				t.Errorf("the registry saw %d requests, want at least %d (retries)", got, tt.minRequests)
			}
			if tt.wantErr != nil && tt.fail != nil && !strings.Contains(tt.name, "ever") {
				// Errors that are not transient are not retried: one ping,
				// one manifest request.
				if got := tr.Requests(); got > 2 {
					t.Errorf("a permanent error was retried: %d requests", got)
				}
			}
		})
	}
}

func TestPlainHTTPAndTLSRules(t *testing.T) {
	plain := ocitest.New(t, false)
	plain.Push(t, "app:1", nil)
	secure := ocitest.New(t, true)
	secure.Push(t, "app:1", nil)
	isPlainRefused := func(err error) bool {
		var pe *PlainHTTPError
		return errors.As(err, &pe)
	}
	tests := []struct {
		name     string
		reg      *ocitest.Registry
		registry string // as written in the reference; "" for the real address
		insecure []string
		refused  bool // the error must be a refusal of plain HTTP
		fails    bool
	}{
		{name: "loopback is plain HTTP", reg: plain},
		{name: "localhost is plain HTTP", reg: plain, registry: "localhost:5000"},
		{name: "private address, not listed", reg: plain, registry: "10.20.30.40:5000", refused: true, fails: true},
		{name: "private address, listed", reg: plain, registry: "10.20.30.40:5000", insecure: []string{"10.20.30.40:5000"}},
		{name: "listed with a scheme", reg: plain, registry: "10.20.30.40:5000", insecure: []string{"http://10.20.30.40:5000/"}},
		{name: "*.localhost name, not listed", reg: plain, registry: "registry.localhost", refused: true, fails: true},
		{name: "public name, not listed: HTTPS only", reg: plain, registry: "registry.example.test:5000", fails: true},
		{name: "public name, listed", reg: plain, registry: "registry.example.test:5000", insecure: []string{"registry.example.test:5000"}},
		{name: "self-signed TLS, not listed", reg: secure, registry: "registry.example.test", fails: true},
		{name: "self-signed TLS, listed", reg: secure, registry: "registry.example.test", insecure: []string{"registry.example.test"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := tt.registry
			var tp http.RoundTripper = tt.reg.Redirect()
			if host == "" {
				host, tp = tt.reg.Host(), nil
			}
			before := tt.reg.Requests()
			c := testClient(Options{Insecure: tt.insecure, Transport: tp, Attempts: 1})
			d, err := c.Digest(context.Background(), host+"/app:1")
			if tt.fails != (err != nil) {
				t.Fatalf("Digest: %q, %v; want failure %v", d, err, tt.fails)
			}
			if tt.refused != isPlainRefused(err) {
				t.Errorf("error %v: refusal of plain HTTP %v, want %v", err, isPlainRefused(err), tt.refused)
			}
			if tt.fails && tt.reg == plain && tt.reg.Requests() != before {
				t.Errorf("a refused registry was sent %d requests", tt.reg.Requests()-before)
			}
			if !tt.fails && !strings.HasPrefix(d, "sha256:") {
				t.Errorf("digest %q", d)
			}
		})
	}
}

// TestClientsDoNotShareTransports: each Client keeps its own transport for
// insecure registries (there is no process-wide cache of them).
func TestClientsDoNotShareTransports(t *testing.T) {
	a, b := ocitest.New(t, true), ocitest.New(t, true)
	a.Push(t, "app:1", nil)
	b.Push(t, "other:1", nil)
	ca := testClient(Options{Insecure: []string{"registry.example.test"}, Transport: a.Redirect()})
	cb := testClient(Options{Insecure: []string{"registry.example.test"}, Transport: b.Redirect()})
	if _, err := ca.Digest(context.Background(), "registry.example.test/app:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := cb.Digest(context.Background(), "registry.example.test/other:1"); err != nil {
		t.Fatalf("the second client did not use its own transport: %v", err)
	}
	if b.Requests() == 0 {
		t.Error("the second client's registry saw no request")
	}
}

func TestWithInsecure(t *testing.T) {
	plain := ocitest.New(t, false)
	plain.Push(t, "app:1", nil)
	c := testClient(Options{Transport: plain.Redirect(), Attempts: 1})
	if _, err := c.Digest(context.Background(), "10.9.8.7:80/app:1"); err == nil {
		t.Fatal("an unlisted private registry was reached over plain HTTP")
	}
	if _, err := c.WithInsecure("10.9.8.7:80").Digest(context.Background(), "10.9.8.7:80/app:1"); err != nil {
		t.Errorf("WithInsecure: %v", err)
	}
	if _, err := c.Digest(context.Background(), "10.9.8.7:80/app:1"); err == nil {
		t.Error("WithInsecure changed the original client")
	}
}

func TestPushAndListTags(t *testing.T) {
	tr := ocitest.New(t, false)
	c := testClient(Options{})
	img, err := random.Image(32, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := c.ParseReference(tr.Host() + "/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first, err := c.Push(ctx, ref, img)
	if err != nil || !first.Pushed {
		t.Fatalf("first push: %+v, %v", first, err)
	}
	again, err := c.Push(ctx, ref, img)
	if err != nil || again.Pushed || again.Digest != first.Digest {
		t.Errorf("second push of the same image: %+v, %v; want nothing sent", again, err)
	}
	v2, _ := c.ParseReference(tr.Host() + "/app:v2")
	if res, err := c.Push(ctx, v2, img); err != nil || !res.Pushed {
		t.Errorf("re-tag: %+v, %v", res, err)
	}
	repo, err := c.ParseRepository(tr.Host() + "/app")
	if err != nil {
		t.Fatal(err)
	}
	tags, err := c.ListTags(ctx, repo)
	if err != nil || strings.Join(tags, ",") != "v1,v2" {
		t.Errorf("tags %v, %v", tags, err)
	}
	none, _ := c.ParseRepository(tr.Host() + "/none")
	if tags, err := c.ListTags(ctx, none); err != nil || len(tags) != 0 {
		t.Errorf("tags of a missing repository: %v, %v", tags, err)
	}
}

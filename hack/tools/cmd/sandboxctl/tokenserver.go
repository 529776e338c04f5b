package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"
)

// runTokenServer serves the Docker registry token protocol (the
// "WWW-Authenticate: Bearer realm=…" flow of distribution's auth.token,
// which GitLab's registry uses) over TLS for the sandbox's token-auth
// registry: GET /token?service=S&scope=repository:NAME:ACTIONS with HTTP
// basic credentials from the htpasswd file answers with a JWT signed by
// -key, whose certificate (-cert, signed by the CA the registry trusts as
// its rootcertbundle) is in the token's x5c header. Every authenticated user
// gets the actions it asks for; a missing or wrong password gets 401.
func runTokenServer(ctx context.Context, args []string) error {
	fs := newFlags("token-server")
	listen := fs.String("listen", "", "address to listen on (127.0.0.1:PORT, or the real node's bridge address)")
	tlsCert := fs.String("tls-cert", "", "TLS server certificate")
	tlsKey := fs.String("tls-key", "", "TLS server key")
	signCert := fs.String("cert", "", "token signing certificate")
	signKey := fs.String("key", "", "token signing key")
	htpasswd := fs.String("htpasswd", "", "users (bcrypt htpasswd)")
	issuer := fs.String("issuer", "", "token issuer")
	service := fs.String("service", "", "service (the registry's name)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ts, err := newTokenService(*signCert, *signKey, *htpasswd, *issuer, *service)
	if err != nil {
		return err
	}
	pair, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
	if err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil || !sandboxAddr(net.ParseIP(host)) {
		return fmt.Errorf("-listen %q: want a loopback address or one of the real node's bridge (198.18.0.0/15), with a port", *listen)
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /token", ts.serveToken)
	srv := &http.Server{
		Handler:           mux,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	fmt.Fprintf(os.Stderr, "token service for %s on https://%s/token\n", *service, l.Addr())
	if err := srv.ServeTLS(l, "", ""); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// bridges is the range of the real node's bridges (hack/testenv.d/node.bash).
var bridges = &net.IPNet{IP: net.IPv4(198, 18, 0, 0), Mask: net.CIDRMask(15, 32)}

// sandboxAddr tells whether ip is one the sandbox may listen on: loopback,
// or an address of a real node's bridge, which only that node's pods reach.
func sandboxAddr(ip net.IP) bool {
	return ip != nil && (ip.IsLoopback() || bridges.Contains(ip))
}

type tokenService struct {
	x5c             string
	key             any
	users           map[string][]byte
	issuer, service string
}

func newTokenService(certFile, keyFile, htpasswd, issuer, service string) (*tokenService, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	if issuer == "" || service == "" {
		return nil, errors.New("-issuer and -service are required")
	}
	ts := &tokenService{
		x5c: base64.StdEncoding.EncodeToString(pair.Certificate[0]),
		key: pair.PrivateKey, users: map[string][]byte{}, issuer: issuer, service: service,
	}
	f, err := os.Open(htpasswd)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if u, h, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":"); ok {
			ts.users[u] = []byte(h)
		}
	}
	if len(ts.users) == 0 {
		return nil, fmt.Errorf("%s: no users", htpasswd)
	}
	return ts, sc.Err()
}

type access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

func (ts *tokenService) serveToken(w http.ResponseWriter, r *http.Request) {
	user, pw, ok := r.BasicAuth()
	if !ok || ts.users[user] == nil || bcrypt.CompareHashAndPassword(ts.users[user], []byte(pw)) != nil {
		w.Header().Set("WWW-Authenticate", `Basic realm="skiff testenv token service"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	}
	if s := r.URL.Query().Get("service"); s != ts.service {
		http.Error(w, fmt.Sprintf("unknown service %q", s), http.StatusBadRequest)
		return
	}
	var grants []access
	for _, scope := range r.URL.Query()["scope"] {
		// repository:NAME:pull,push — NAME may hold a port-less path only.
		parts := strings.Split(scope, ":")
		if len(parts) != 3 {
			http.Error(w, fmt.Sprintf("bad scope %q", scope), http.StatusBadRequest)
			return
		}
		grants = append(grants, access{Type: parts[0], Name: parts[1], Actions: strings.Split(parts[2], ",")})
	}
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": ts.issuer, "sub": user, "aud": ts.service,
		"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"jti": fmt.Sprintf("%d", now.UnixNano()), "access": grants,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["x5c"] = []string{ts.x5c}
	signed, err := tok.SignedString(ts.key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"token": signed, "access_token": signed, "expires_in": 300, "issued_at": now.UTC().Format(time.RFC3339),
	})
}

// caClient is an HTTP client that trusts the PEM certificates in caFile
// and, when certFile is set, presents that client certificate.
func caClient(caFile, certFile, keyFile string) (*http.Client, error) {
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if block, _ := pem.Decode(data); block == nil || !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s: no PEM certificate", caFile)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		t.TLSClientConfig.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Timeout: 2 * time.Second, Transport: t}, nil
}

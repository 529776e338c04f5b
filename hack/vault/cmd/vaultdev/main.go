// Command vaultdev runs HashiCorp Vault's own server core and HTTP API in dev
// mode for skiff's sandbox: in-memory storage, one unseal key, a root token
// chosen by the caller, KV v2 mounted at secret/ and KV v1 at kv1/, JWT auth
// at jwt/ trusting a public key the tests own, and Kubernetes service-account
// auth at kubernetes/ (configured by the tests). Only those backends are
// compiled in: the full `vault` binary links every builtin plugin and cloud
// SDK, which the sandbox does not need (see hack/vault/README.md).
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	jwtauth "github.com/hashicorp/vault-plugin-auth-jwt"
	kubeauth "github.com/hashicorp/vault-plugin-auth-kubernetes"
	kv "github.com/hashicorp/vault-plugin-secrets-kv"
	"github.com/hashicorp/vault/helper/namespace"
	vaulthttp "github.com/hashicorp/vault/http"
	"github.com/hashicorp/vault/internalshared/configutil"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/physical/inmem"
	"github.com/hashicorp/vault/vault"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (port 0: the kernel picks one)")
	addrFile := flag.String("addr-file", "", "write the listening address (host:port) here once Vault serves requests")
	tokenFile := flag.String("root-token-file", "", "file holding the root token ID to create (required)")
	jwtKeyFile := flag.String("jwt-key", "", "PEM (PKCS#8) ECDSA P-256 private key whose public half the jwt/ auth method trusts; created when missing (required)")
	jwtIssuer := flag.String("jwt-issuer", "skiff-testenv", "bound_issuer of the jwt/ auth method")
	logLevel := flag.String("log-level", "warn", "Vault's log level")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *listen, *addrFile, *tokenFile, *jwtKeyFile, *jwtIssuer, *logLevel); err != nil {
		fmt.Fprintln(os.Stderr, "vaultdev:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, listen, addrFile, tokenFile, jwtKeyFile, jwtIssuer, logLevel string) error {
	if tokenFile == "" || jwtKeyFile == "" {
		return errors.New("-root-token-file and -jwt-key are required")
	}
	rootToken, err := os.ReadFile(tokenFile)
	if err != nil {
		return err
	}
	jwtKey, err := publicKey(jwtKeyFile)
	if err != nil {
		return fmt.Errorf("jwt key: %w", err)
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "vault", Level: hclog.LevelFromString(logLevel), Output: os.Stderr})
	storage, err := inmem.NewInmem(nil, logger)
	if err != nil {
		return err
	}
	conf := &vault.CoreConfig{
		Physical:           storage,
		Logger:             logger,
		DisableMlock:       true,
		DevToken:           string(rootToken),
		LogicalBackends:    map[string]logical.Factory{"kv": kv.Factory},
		CredentialBackends: map[string]logical.Factory{"jwt": jwtauth.Factory, "kubernetes": kubeauth.Factory},
		BuiltinRegistry:    registry{},
	}
	core, err := vault.NewCore(conf)
	if err != nil {
		return fmt.Errorf("creating the core: %w", err)
	}
	defer core.Shutdown()
	if err := initDev(ctx, core, string(rootToken), jwtKey, jwtIssuer); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           vaulthttp.Handler.Handler(&vault.HandlerProperties{Core: core, ListenerConfig: &configutil.Listener{}}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if addrFile != "" {
		tmp := addrFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(ln.Addr().String()+"\n"), 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Clean(addrFile)); err != nil {
			return err
		}
	}
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	case err := <-errc:
		return err
	}
}

// initDev does what `vault server -dev` does (command/server.go enableDev):
// initialise with one key share, unseal, replace the generated root token by
// the caller's, then mount what skiff's tests use.
func initDev(ctx context.Context, core *vault.Core, rootToken, jwtKey, jwtIssuer string) error {
	ctx = namespace.ContextWithNamespace(ctx, namespace.RootNamespace)
	init, err := core.Initialize(ctx, &vault.InitParams{
		BarrierConfig: &vault.SealConfig{SecretShares: 1, SecretThreshold: 1, Name: "shamir"},
	})
	if err != nil {
		return fmt.Errorf("initialising: %w", err)
	}
	if ok, err := core.Unseal(init.SecretShares[0]); err != nil || !ok {
		return fmt.Errorf("unsealing: %v", err)
	}
	for i := 0; ; i++ {
		if leader, _, _, err := core.Leader(); errors.Is(err, vault.ErrHANotEnabled) || (err == nil && leader) {
			break
		}
		if i == 50 {
			return errors.New("core did not become active")
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := core.HandleRequest(ctx, &logical.Request{
		Operation: logical.UpdateOperation, ClientToken: init.RootToken, Path: "auth/token/create",
		Data: map[string]any{"id": rootToken, "policies": []string{"root"}, "no_parent": true, "no_default_policy": true},
	})
	if err := respErr("creating the root token", resp, err); err != nil {
		return err
	}
	steps := []struct {
		what, path string
		data       map[string]any
	}{
		{"revoking the initial root token", "auth/token/revoke-self", nil},
		{"mounting kv v2 at secret/", "sys/mounts/secret", map[string]any{"type": "kv", "options": map[string]string{"version": "2"}}},
		{"mounting kv v1 at kv1/", "sys/mounts/kv1", map[string]any{"type": "kv", "options": map[string]string{"version": "1"}}},
		{"enabling jwt auth", "sys/auth/jwt", map[string]any{"type": "jwt"}},
		{"configuring jwt auth", "auth/jwt/config", map[string]any{"jwt_validation_pubkeys": []string{jwtKey}, "bound_issuer": jwtIssuer}},
		{"enabling kubernetes auth", "sys/auth/kubernetes", map[string]any{"type": "kubernetes"}},
	}
	for i, s := range steps {
		token := rootToken
		if i == 0 {
			token = init.RootToken
		}
		resp, err := core.HandleRequest(ctx, &logical.Request{Operation: logical.UpdateOperation, ClientToken: token, Path: s.path, Data: s.data})
		if err := respErr(s.what, resp, err); err != nil {
			return err
		}
	}
	return nil
}

func respErr(what string, resp *logical.Response, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if resp != nil && resp.IsError() {
		return fmt.Errorf("%s: %w", what, resp.Error())
	}
	return nil
}

// publicKey returns the PEM public key of the private key in file, making
// the key first when file does not exist: the tests sign their JWTs with it.
func publicKey(file string) (string, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return "", err
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return "", err
		}
		data = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err := os.WriteFile(file, data, 0o600); err != nil {
			return "", err
		}
	} else if err != nil {
		return "", err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return "", fmt.Errorf("%s holds no PEM block", file)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return "", err
	}
	signer, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return "", fmt.Errorf("%s: not an ECDSA key", file)
	}
	der, err := x509.MarshalPKIXPublicKey(&signer.PublicKey)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// registry is the plugin catalog's view of the builtin plugins: exactly the
// backends compiled in above.
type registry struct{}

var builtins = map[consts.PluginType]map[string]logical.Factory{
	consts.PluginTypeSecrets:    {"kv": kv.Factory},
	consts.PluginTypeCredential: {"jwt": jwtauth.Factory, "kubernetes": kubeauth.Factory},
}

func (registry) Contains(name string, t consts.PluginType) bool {
	_, ok := builtins[t][name]
	return ok
}

func (registry) Get(name string, t consts.PluginType) (func() (any, error), bool) {
	f, ok := builtins[t][name]
	if !ok {
		return nil, false
	}
	return func() (any, error) { return f, nil }, true
}

func (registry) Keys(t consts.PluginType) []string {
	var keys []string
	for k := range builtins[t] {
		keys = append(keys, k)
	}
	return keys
}

func (registry) DeprecationStatus(name string, t consts.PluginType) (consts.DeprecationStatus, bool) {
	if _, ok := builtins[t][name]; ok {
		return consts.Supported, true
	}
	return consts.Unknown, false
}

func (registry) IsBuiltinEntPlugin(string, consts.PluginType) bool { return false }

package secrets

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/skiff-dev/skiff/internal/config"
)

// DefaultServiceAccountTokenFile is where a pod's Kubernetes service
// account token is mounted.
const DefaultServiceAccountTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// vaultClient is a Vault API client logged in for one environment.
type vaultClient struct {
	c *vault.Client
}

func newVaultClient(ctx context.Context, e config.Environment, opts Options) (*vaultClient, error) {
	var vc config.Vault
	if e.Vault != nil {
		vc = *e.Vault
	}
	addr := vc.Address
	if addr == "" {
		addr = opts.getenv("VAULT_ADDR")
	}
	if addr == "" {
		return nil, errors.New("no Vault address: set vault.address on the environment or VAULT_ADDR")
	}
	conf := vault.DefaultConfig()
	conf.Address = addr
	conf.Timeout = 30 * time.Second
	conf.MaxRetries = 1
	if conf.Error != nil {
		return nil, fmt.Errorf("vault client: %w", conf.Error)
	}
	c, err := vault.NewClient(conf)
	if err != nil {
		return nil, fmt.Errorf("vault client: %w", err)
	}
	// The api package reads VAULT_TOKEN from the process environment by
	// itself; the token comes only from the chosen auth method.
	c.ClearToken()
	ns := vc.Namespace
	if ns == "" {
		ns = opts.getenv("VAULT_NAMESPACE")
	}
	if ns != "" {
		c.SetNamespace(ns)
	} else {
		c.ClearNamespace()
	}
	if err := login(ctx, c, vc.Auth, opts); err != nil {
		return nil, err
	}
	return &vaultClient{c: c}, nil
}

// AuthMethod is the environment's Vault auth method: token unless set.
func AuthMethod(a config.VaultAuth) string {
	if a.Method == "" {
		return "token"
	}
	return a.Method
}

func login(ctx context.Context, c *vault.Client, a config.VaultAuth, opts Options) error {
	method := AuthMethod(a)
	if method == "token" {
		t := opts.getenv("VAULT_TOKEN")
		if t == "" {
			return errors.New("vault auth token: VAULT_TOKEN is not set")
		}
		c.SetToken(t)
		return nil
	}
	mount := a.Mount
	if mount == "" {
		mount = method
	}
	var jwt string
	switch method {
	case "jwt":
		jwt = opts.getenv("VAULT_ID_TOKEN")
		if jwt == "" {
			return errors.New("vault auth jwt: VAULT_ID_TOKEN is not set (in GitLab CI, request it with id_tokens)")
		}
	case "kubernetes":
		file := a.TokenFile
		if file == "" {
			file = DefaultServiceAccountTokenFile
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("vault auth kubernetes: reading the service account token: %w", err)
		}
		jwt = strings.TrimSpace(string(b))
	default:
		return fmt.Errorf("vault auth: unknown method %q (token, jwt, kubernetes)", method)
	}
	s, err := c.Logical().WriteWithContext(ctx, "auth/"+strings.Trim(mount, "/")+"/login", map[string]any{"role": a.Role, "jwt": jwt})
	if err != nil {
		return fmt.Errorf("vault login with %s auth at auth/%s as role %q: %w", method, mount, a.Role, oneLine(err))
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return fmt.Errorf("vault login with %s auth at auth/%s as role %q: no token in the answer", method, mount, a.Role)
	}
	c.SetToken(s.Auth.ClientToken)
	return nil
}

func (vc *vaultClient) read(ctx context.Context, ref *config.VaultSecret) ([]byte, error) {
	mount := mountOf(ref)
	var (
		s   *vault.KVSecret
		err error
	)
	if ref.KV == 1 {
		s, err = vc.c.KVv1(mount).Get(ctx, ref.Path)
	} else if ref.Version > 0 {
		s, err = vc.c.KVv2(mount).GetVersion(ctx, ref.Path, ref.Version)
	} else {
		s, err = vc.c.KVv2(mount).Get(ctx, ref.Path)
	}
	if errors.Is(err, vault.ErrSecretNotFound) {
		return nil, fmt.Errorf("no secret at %s/%s in Vault %s", mount, ref.Path, vc.c.Address())
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s/%s from Vault: %w", mount, ref.Path, oneLine(err))
	}
	v, ok := s.Data[ref.Key]
	if !ok {
		return nil, fmt.Errorf("the secret at %s/%s has no key %q", mount, ref.Path, ref.Key)
	}
	switch t := v.(type) {
	case string:
		return []byte(t), nil
	case nil:
		return nil, fmt.Errorf("key %q of %s/%s is null", ref.Key, mount, ref.Path)
	}
	return nil, fmt.Errorf("key %q of %s/%s is a %T, not a string", ref.Key, mount, ref.Path, v)
}

// oneLine turns the Vault client's multi-line errors into one line: the
// status and Vault's own messages, or the transport error.
func oneLine(err error) error {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		msgs := re.Errors
		if re.RawError {
			msgs = []string{"unreadable answer"}
		}
		return fmt.Errorf("%s %s: HTTP %d: %s", re.HTTPMethod, redactURL(re.URL), re.StatusCode, strings.Join(msgs, "; "))
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %v", ue.Op, redactURL(ue.URL), ue.Err)
	}
	return errors.New(strings.Join(strings.Fields(err.Error()), " "))
}

// redactURL drops a URL's query and user info: neither belongs in a message.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	u.User, u.RawQuery = nil, ""
	return u.String()
}

package config

// Environment is a place the application is deployed to: a namespace in a
// cluster, long-lived (staging, production) or dynamic (one per branch or
// merge request).
type Environment struct {
	Name               string   `yaml:"name" skiff:"required"`
	Namespace          string   `yaml:"namespace,omitempty"`
	Dynamic            bool     `yaml:"dynamic,omitempty"`
	Profiles           []string `yaml:"profiles,omitempty"`
	KubeContext        string   `yaml:"kubeContext,omitempty"`
	As                 string   `yaml:"as,omitempty"`
	AsGroups           []string `yaml:"asGroups,omitempty"`
	TTL                string   `yaml:"ttl,omitempty" skiff:"duration"`
	OnFailure          string   `yaml:"onFailure,omitempty" skiff:"enum=keep|rollback|delete"`
	URL                string   `yaml:"url,omitempty"`
	Protected          bool     `yaml:"protected,omitempty"`
	RequireTag         string   `yaml:"requireTag,omitempty"`
	Approval           string   `yaml:"approval,omitempty" skiff:"enum=required|none"`
	ImmutableNamespace bool     `yaml:"immutableNamespace,omitempty"`
	// AllowClusterObjects lists the cluster-scoped objects of the
	// environment's manifests its deployer may write, as "Kind/name"
	// (or "Kind.group/name"): skiff env rbac grants them by name only, and
	// refuses a dynamic environment whose manifests have others.
	AllowClusterObjects []string `yaml:"allowClusterObjects,omitempty"`
	EnvironmentSecrets  `yaml:",inline"`
}

// EnvironmentSecrets are the environment fields about secrets, inlined in
// Environment: the Kubernetes Secrets skiff creates at deploy time from a
// vault or from SOPS files, and whether rendered Secret objects may go into
// a release.
type EnvironmentSecrets struct {
	Vault   *Vault   `yaml:"vault,omitempty"`
	Secrets []Secret `yaml:"secrets,omitempty"`
	// AllowPlainSecrets lets Secret objects of the rendered manifests into
	// release artifacts; without it skiff release create refuses them.
	AllowPlainSecrets bool `yaml:"allowPlainSecrets,omitempty"`
}

// Vault is how an environment reaches HashiCorp Vault.
type Vault struct {
	// Address defaults to $VAULT_ADDR.
	Address string `yaml:"address,omitempty"`
	// Namespace is a Vault Enterprise namespace (default $VAULT_NAMESPACE).
	Namespace string    `yaml:"namespace,omitempty"`
	Auth      VaultAuth `yaml:"auth,omitempty"`
}

// VaultAuth is how skiff logs in to Vault: with $VAULT_TOKEN, with a JWT
// (GitLab CI's id_tokens, in $VAULT_ID_TOKEN) and a role, or with the pod's
// Kubernetes service account token and a role.
type VaultAuth struct {
	Method string `yaml:"method,omitempty" skiff:"enum=token|jwt|kubernetes"`
	// Mount is the auth method's path (default: jwt or kubernetes).
	Mount string `yaml:"mount,omitempty"`
	Role  string `yaml:"role,omitempty"`
	// Audience is the aud claim a generated GitLab job asks for in its
	// id_tokens JWT (jwt method).
	Audience string `yaml:"audience,omitempty"`
	// TokenFile is the service account token (kubernetes method; default
	// /var/run/secrets/kubernetes.io/serviceaccount/token).
	TokenFile string `yaml:"tokenFile,omitempty"`
}

// Secret is one Kubernetes Secret of an environment, created in its
// namespace at deploy time; each data key comes from Vault or a SOPS file.
type Secret struct {
	Name string                  `yaml:"name" skiff:"required"`
	Type string                  `yaml:"type,omitempty"`
	Data map[string]SecretSource `yaml:"data" skiff:"required"`
}

// SecretSource is where one key of a Secret comes from.
type SecretSource struct {
	Vault *VaultSecret `yaml:"vault,omitempty" skiff:"oneOf=source"`
	SOPS  *SOPSSecret  `yaml:"sops,omitempty" skiff:"oneOf=source"`
}

// VaultSecret is a key of a KV secret in Vault.
type VaultSecret struct {
	// Mount is the KV secrets engine's path (default "secret").
	Mount string `yaml:"mount,omitempty"`
	Path  string `yaml:"path" skiff:"required"`
	Key   string `yaml:"key" skiff:"required"`
	// Version pins a KV v2 version (0: the latest).
	Version int `yaml:"version,omitempty"`
	// KV is the KV engine version, 1 or 2 (default 2).
	KV int `yaml:"kv,omitempty"`
}

// SOPSSecret is a value of a SOPS-encrypted file (age keys from
// $SOPS_AGE_KEY or $SOPS_AGE_KEY_FILE).
type SOPSSecret struct {
	File string `yaml:"file" skiff:"required,path"`
	// Key is the value's path in the decrypted document, dot-separated
	// ("db.password").
	Key string `yaml:"key" skiff:"required"`
}

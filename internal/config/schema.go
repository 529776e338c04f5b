package config

import "gopkg.in/yaml.v3"

// Struct tags understood by the checker (besides yaml):
//
//	skiff:"required"          the field must be set
//	skiff:"oneOf=group"       at most one field of the group may be set; a
//	                          profile setting one replaces the whole group
//	skiff:"path"              a file path, resolved like Skaffold resolves it
//	skiff:"template"          expanded over environment variables at load time
//	skiff:"unsupported=why"   valid Skaffold, rejected by skiff with why
//	skiff:"ignored=why"       valid Skaffold, accepted with a warning saying why
//
// Field names and YAML keys follow Skaffold's schema so existing files load
// unchanged; pointer-versus-value choices follow Skaffold too, because they
// decide how profiles merge (values merge field by field, pointers and lists
// are replaced wholesale).

// Any holds YAML that skiff accepts but does not interpret.
type Any = yaml.Node

// Config is one configuration document (a module): a skaffold/* document, or
// a skiff/v1 document with skiff's own sections.
type Config struct {
	APIVersion string             `yaml:"apiVersion" skiff:"required"`
	Kind       string             `yaml:"kind" skiff:"required"`
	Metadata   Metadata           `yaml:"metadata,omitempty"`
	Requires   []ConfigDependency `yaml:"requires,omitempty"`
	Pipeline   `yaml:",inline"`
	Profiles   []Profile `yaml:"profiles,omitempty"`

	// skiff/v1 only.
	Skaffold     string        `yaml:"skaffold,omitempty" skiff:"skiffOnly"`
	Environments []Environment `yaml:"environments,omitempty" skiff:"skiffOnly"`
	Release      *Release      `yaml:"release,omitempty" skiff:"skiffOnly"`
	CI           *CIPipeline   `yaml:"pipeline,omitempty" skiff:"skiffOnly"`

	// Source is where the document was read; not part of the schema.
	Source Source `yaml:"-"`

	node *yaml.Node // the effective document, for positions in later errors
	// defaultManifests says Render.RawK8s is Skaffold's default, which
	// Skaffold's effective configuration does not show.
	defaultManifests bool
}

// Source locates a configuration document.
type Source struct {
	File  string // path as given or found, relative to the working directory when possible
	Index int    // document index in the file, 0-based
	Dir   string // directory relative paths in this document resolve against ("" = working directory)
	Root  bool   // the root configuration (given with -f or found in the working directory)
}

// Metadata names a module.
type Metadata struct {
	Name        string            `yaml:"name,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// ConfigDependency pulls in another configuration file.
type ConfigDependency struct {
	Names                  []string            `yaml:"configs,omitempty"`
	Path                   string              `yaml:"path,omitempty" skiff:"oneOf=paths"`
	GitRepo                Any                 `yaml:"git,omitempty" skiff:"oneOf=paths,unsupported=remote configurations are not supported; vendor the file and use requires.path"`
	GoogleCloudStorage     Any                 `yaml:"googleCloudStorage,omitempty" skiff:"oneOf=paths,unsupported=remote configurations are not supported; vendor the file and use requires.path"`
	GoogleCloudBuildRepoV2 Any                 `yaml:"googleCloudBuildRepoV2,omitempty" skiff:"oneOf=paths,unsupported=remote configurations are not supported; vendor the file and use requires.path"`
	ActiveProfiles         []ProfileDependency `yaml:"activeProfiles,omitempty"`
}

// ProfileDependency activates a profile of a required configuration.
type ProfileDependency struct {
	Name        string   `yaml:"name" skiff:"required"`
	ActivatedBy []string `yaml:"activatedBy,omitempty"`
}

// Pipeline is the part of a configuration that profiles override.
type Pipeline struct {
	Build            BuildConfig            `yaml:"build,omitempty"`
	Test             []*TestCase            `yaml:"test,omitempty"`
	Render           RenderConfig           `yaml:"manifests,omitempty"`
	Deploy           DeployConfig           `yaml:"deploy,omitempty"`
	PortForward      []*PortForwardResource `yaml:"portForward,omitempty"`
	ResourceSelector ResourceSelectorConfig `yaml:"resourceSelector,omitempty"`
	Verify           []*VerifyTestCase      `yaml:"verify,omitempty"`
	CustomActions    []Action               `yaml:"customActions,omitempty"`
}

// ResourceSelectorConfig is Skaffold's allow/deny list for transforms.
type ResourceSelectorConfig struct {
	Allow []Any `yaml:"allow,omitempty" skiff:"ignored=skiff replaces images in the built-in workload kinds only"`
	Deny  []Any `yaml:"deny,omitempty" skiff:"ignored=skiff replaces images in the built-in workload kinds only"`
}

// Profile overrides parts of a configuration when activated.
type Profile struct {
	Name                   string       `yaml:"name" skiff:"required"`
	Activation             []Activation `yaml:"activation,omitempty"`
	RequiresAllActivations bool         `yaml:"requiresAllActivations,omitempty"`
	Patches                []JSONPatch  `yaml:"patches,omitempty"`
	Pipeline               `yaml:",inline"`
}

// Activation auto-activates a profile when all its criteria hold.
type Activation struct {
	Env         string `yaml:"env,omitempty"`
	KubeContext string `yaml:"kubeContext,omitempty"`
	Command     string `yaml:"command,omitempty"`
}

// JSONPatch is one RFC 6902 operation on the configuration.
type JSONPatch struct {
	Op    string `yaml:"op,omitempty"`
	Path  string `yaml:"path" skiff:"required"`
	From  string `yaml:"from,omitempty"`
	Value Any    `yaml:"value,omitempty"`
}

// PortForwardResource forwards a local port to a resource in the cluster.
type PortForwardResource struct {
	Type      string      `yaml:"resourceType,omitempty"`
	Name      string      `yaml:"resourceName,omitempty" skiff:"template"`
	Namespace string      `yaml:"namespace,omitempty" skiff:"template"`
	Port      IntOrString `yaml:"port,omitempty"`
	Address   string      `yaml:"address,omitempty"`
	LocalPort int         `yaml:"localPort,omitempty"`
}

// BuildConfig describes how images are built.
type BuildConfig struct {
	Hooks              Any         `yaml:"hooks,omitempty" skiff:"unsupported=lifecycle hooks are not supported"`
	Artifacts          []*Artifact `yaml:"artifacts,omitempty"`
	InsecureRegistries []string    `yaml:"insecureRegistries,omitempty"`
	TagPolicy          TagPolicy   `yaml:"tagPolicy,omitempty"`
	Platforms          []string    `yaml:"platforms,omitempty"`
	BuildType          `yaml:",inline"`
}

// BuildType says where images are built: in-process on this machine
// (local, the default) or in pods of a cluster (cluster).
type BuildType struct {
	LocalBuild       *LocalBuild     `yaml:"local,omitempty" skiff:"oneOf=build"`
	GoogleCloudBuild Any             `yaml:"googleCloudBuild,omitempty" skiff:"oneOf=build,unsupported=Google Cloud Build is not supported; skiff builds in-process without a daemon"`
	Cluster          *ClusterDetails `yaml:"cluster,omitempty" skiff:"oneOf=build"`
}

// LocalBuild configures building on this machine.
type LocalBuild struct {
	Push             *bool `yaml:"push,omitempty"`
	TryImportMissing bool  `yaml:"tryImportMissing,omitempty" skiff:"ignored=there is no local Docker daemon to import from"`
	UseDockerCLI     bool  `yaml:"useDockerCLI,omitempty" skiff:"ignored=skiff builds without Docker"`
	UseBuildkit      *bool `yaml:"useBuildkit,omitempty" skiff:"ignored=skiff builds without BuildKit"`
	Concurrency      *int  `yaml:"concurrency,omitempty"`
}

// TagPolicy decides image tags; exactly one tagger may be set.
type TagPolicy struct {
	GitTagger            *GitTagger            `yaml:"gitCommit,omitempty" skiff:"oneOf=tag"`
	ShaTagger            *struct{}             `yaml:"sha256,omitempty" skiff:"oneOf=tag"`
	EnvTemplateTagger    *EnvTemplateTagger    `yaml:"envTemplate,omitempty" skiff:"oneOf=tag"`
	DateTimeTagger       *DateTimeTagger       `yaml:"dateTime,omitempty" skiff:"oneOf=tag"`
	CustomTemplateTagger *CustomTemplateTagger `yaml:"customTemplate,omitempty" skiff:"oneOf=tag"`
	InputDigest          *struct{}             `yaml:"inputDigest,omitempty" skiff:"oneOf=tag"`
}

// GitTagger tags with the git tag or commit.
type GitTagger struct {
	Variant       string `yaml:"variant,omitempty" skiff:"enum=Tags|CommitSha|AbbrevCommitSha|TreeSha|AbbrevTreeSha"`
	Prefix        string `yaml:"prefix,omitempty"`
	IgnoreChanges bool   `yaml:"ignoreChanges,omitempty"`
}

// EnvTemplateTagger tags with a template over the environment.
type EnvTemplateTagger struct {
	Template string `yaml:"template" skiff:"required"`
}

// DateTimeTagger tags with the build time.
type DateTimeTagger struct {
	Format   string `yaml:"format,omitempty"`
	TimeZone string `yaml:"timezone,omitempty"`
}

// CustomTemplateTagger composes other taggers in a template.
type CustomTemplateTagger struct {
	Template   string            `yaml:"template" skiff:"required"`
	Components []TaggerComponent `yaml:"components,omitempty"`
}

// TaggerComponent is a named tagger usable in a custom template.
type TaggerComponent struct {
	Name      string `yaml:"name,omitempty"`
	TagPolicy `yaml:",inline"`
}

// Artifact is an image to build.
type Artifact struct {
	ImageName      string `yaml:"image" skiff:"required"`
	Workspace      string `yaml:"context,omitempty" skiff:"path"`
	Sync           *Sync  `yaml:"sync,omitempty"`
	ArtifactType   `yaml:",inline"`
	Dependencies   []*ArtifactDependency `yaml:"requires,omitempty"`
	LifecycleHooks BuildHooks            `yaml:"hooks,omitempty"`
	Platforms      []string              `yaml:"platforms,omitempty" skiff:"enum=linux/amd64"`
	RuntimeType    string                `yaml:"runtimeType,omitempty" skiff:"ignored=skiff has no debug mode"`
}

// ArtifactType says how an artifact is built; exactly one may be set.
type ArtifactType struct {
	DockerArtifact    *DockerArtifact `yaml:"docker,omitempty" skiff:"oneOf=artifact"`
	KanikoArtifact    *KanikoArtifact `yaml:"kaniko,omitempty" skiff:"oneOf=artifact"`
	CustomArtifact    *CustomArtifact `yaml:"custom,omitempty" skiff:"oneOf=artifact"`
	BazelArtifact     Any             `yaml:"bazel,omitempty" skiff:"oneOf=artifact,unsupported=the bazel builder is not supported; use docker, kaniko, ko or custom"`
	KoArtifact        *KoArtifact     `yaml:"ko,omitempty" skiff:"oneOf=artifact"`
	JibArtifact       Any             `yaml:"jib,omitempty" skiff:"oneOf=artifact,unsupported=the jib builder is not supported; use docker, kaniko, ko or custom"`
	BuildpackArtifact Any             `yaml:"buildpacks,omitempty" skiff:"oneOf=artifact,unsupported=the buildpacks builder is not supported; use docker, kaniko, ko or custom"`
}

// ArtifactDependency is another artifact this one needs, exposed under Alias.
type ArtifactDependency struct {
	ImageName string `yaml:"image" skiff:"required"`
	Alias     string `yaml:"alias,omitempty"`
}

// DockerArtifact builds from a Dockerfile.
type DockerArtifact struct {
	DockerfilePath string             `yaml:"dockerfile,omitempty"`
	Target         string             `yaml:"target,omitempty"`
	BuildArgs      map[string]*string `yaml:"buildArgs,omitempty" skiff:"template"`
	NetworkMode    string             `yaml:"network,omitempty"` // RUN steps' default network: default, none, or host (needs --allow network.host)
	AddHost        []string           `yaml:"addHost,omitempty" skiff:"unsupported=addHost is not supported"`
	CacheFrom      []string           `yaml:"cacheFrom,omitempty"`
	CliFlags       []string           `yaml:"cliFlags,omitempty" skiff:"ignored=there is no docker CLI"`
	PullParent     bool               `yaml:"pullParent,omitempty" skiff:"ignored=base images are always resolved in the registry"`
	NoCache        bool               `yaml:"noCache,omitempty"`
	Squash         bool               `yaml:"squash,omitempty" skiff:"unsupported=squash is not supported"`
	Secrets        []*DockerSecret    `yaml:"secrets,omitempty"`
	SSH            string             `yaml:"ssh,omitempty" skiff:"unsupported=SSH agent forwarding is not supported"`
}

// DockerSecret is a build secret for RUN --mount=type=secret.
type DockerSecret struct {
	ID     string `yaml:"id" skiff:"required"`
	Source string `yaml:"src,omitempty" skiff:"oneOf=secretSource"`
	Env    string `yaml:"env,omitempty" skiff:"oneOf=secretSource"`
}

// KanikoArtifact is Kaniko's view of a Dockerfile build; skiff builds it with
// the same daemonless builder as docker artifacts.
type KanikoArtifact struct {
	DockerfilePath string             `yaml:"dockerfile,omitempty"`
	Target         string             `yaml:"target,omitempty"`
	BuildArgs      map[string]*string `yaml:"buildArgs,omitempty" skiff:"template"`
	Cache          *KanikoCache       `yaml:"cache,omitempty"`
	Reproducible   bool               `yaml:"reproducible,omitempty"`
	Label          map[string]*string `yaml:"label,omitempty"`
	Destination    []string           `yaml:"destination,omitempty"`
	Insecure       bool               `yaml:"insecure,omitempty"`
	InsecurePull   bool               `yaml:"insecurePull,omitempty"`
	InsecureRegs   []string           `yaml:"insecureRegistry,omitempty"`
	SkipTLS        bool               `yaml:"skipTLS,omitempty" skiff:"unsupported=skipping TLS verification is not supported; use insecureRegistries for plain-HTTP registries"`
	ContextSubPath string             `yaml:"contextSubPath,omitempty"`

	SkipUnusedStages bool `yaml:"skipUnusedStages,omitempty" skiff:"ignored=skiff always skips unused stages"`
	Cleanup          bool `yaml:"cleanup,omitempty" skiff:"ignored=skiff builds in scratch directories it removes"`
	Force            bool `yaml:"force,omitempty" skiff:"ignored=skiff does not need to run in a container"`
	LogTimestamp     bool `yaml:"logTimestamp,omitempty" skiff:"ignored=it sets kaniko's log output; skiff logs with -v"`
	SingleSnapshot   bool `yaml:"singleSnapshot,omitempty" skiff:"unsupported=singleSnapshot is not supported"`
	UseNewRun        bool `yaml:"useNewRun,omitempty" skiff:"ignored=skiff snapshots with overlayfs"`
	WhitelistVarRun  bool `yaml:"whitelistVarRun,omitempty" skiff:"ignored=it tunes kaniko's snapshots; skiff snapshots with overlayfs"`

	SkipTLSVerifyPull       bool           `yaml:"skipTLSVerifyPull,omitempty" skiff:"unsupported=skipping TLS verification is not supported"`
	InitImage               string         `yaml:"initImage,omitempty" skiff:"ignored=no kaniko pod is started"`
	Image                   string         `yaml:"image,omitempty" skiff:"ignored=no kaniko pod is started"`
	ImagePullSecret         string         `yaml:"imagePullSecret,omitempty" skiff:"ignored=no kaniko pod is started"`
	DigestFile              string         `yaml:"digestFile,omitempty" skiff:"ignored=use --file-output for the built digests"`
	ImageFSExtractRetry     string         `yaml:"imageFSExtractRetry,omitempty" skiff:"ignored=it tunes kaniko's image extraction"`
	ImageNameWithDigestFile string         `yaml:"imageNameWithDigestFile,omitempty" skiff:"ignored=use --file-output for the built digests"`
	LogFormat               string         `yaml:"logFormat,omitempty" skiff:"ignored=it sets kaniko's log output; skiff logs with -v"`
	OCILayoutPath           string         `yaml:"ociLayoutPath,omitempty" skiff:"ignored=use skiff build --push=false --output-dir"`
	RegistryMirror          string         `yaml:"registryMirror,omitempty" skiff:"unsupported=registry mirrors are not supported"`
	SnapshotMode            string         `yaml:"snapshotMode,omitempty" skiff:"ignored=skiff snapshots with overlayfs"`
	PushRetry               string         `yaml:"pushRetry,omitempty" skiff:"ignored=skiff retries pushes itself"`
	TarPath                 string         `yaml:"tarPath,omitempty" skiff:"unsupported=use skiff build --push=false --output-dir"`
	Verbosity               string         `yaml:"verbosity,omitempty" skiff:"ignored=use skiff -v"`
	SkipTLSVerifyRegistry   []string       `yaml:"skipTLSVerifyRegistry,omitempty" skiff:"unsupported=skipping TLS verification is not supported"`
	Env                     []Any          `yaml:"env,omitempty" skiff:"ignored=no kaniko pod is started"`
	RegistryCertificate     map[string]Any `yaml:"registryCertificate,omitempty" skiff:"unsupported=per-registry certificates are not supported"`
	VolumeMounts            []Any          `yaml:"volumeMounts,omitempty" skiff:"ignored=no kaniko pod is started"`
	IgnorePaths             []string       `yaml:"ignorePaths,omitempty" skiff:"ignored=skiff snapshots only what RUN changed"`
	CopyMaxRetries          *int           `yaml:"copyMaxRetries,omitempty" skiff:"ignored=no kaniko pod is started"`
	CopyTimeout             string         `yaml:"copyTimeout,omitempty" skiff:"ignored=no kaniko pod is started"`
	BuildContextCompression *int           `yaml:"buildContextCompressionLevel,omitempty" skiff:"ignored=no kaniko pod is started"`
}

// KanikoCache configures the registry layer cache.
type KanikoCache struct {
	Repo            string `yaml:"repo,omitempty"`
	HostPath        string `yaml:"hostPath,omitempty" skiff:"ignored=use --cache-dir"`
	TTL             string `yaml:"ttl,omitempty"`
	CacheCopyLayers bool   `yaml:"cacheCopyLayers,omitempty"`
	CacheRunLayers  *bool  `yaml:"cacheRunLayers,omitempty"`
}

// KoArtifact builds a Go main package with ko, in-process; the fields are
// Skaffold's (schema v4beta13 KoArtifact). Dir and Main are relative to the
// artifact's context; an image named ko://IMPORTPATH builds that package and
// Main is ignored.
type KoArtifact struct {
	BaseImage    string            `yaml:"fromImage,omitempty"`
	Dependencies *KoDependencies   `yaml:"dependencies,omitempty"`
	Dir          string            `yaml:"dir,omitempty"`
	Env          []string          `yaml:"env,omitempty" skiff:"template"`
	Flags        []string          `yaml:"flags,omitempty" skiff:"template"`
	Labels       map[string]string `yaml:"labels,omitempty" skiff:"template"`
	Ldflags      []string          `yaml:"ldflags,omitempty" skiff:"template"`
	Main         string            `yaml:"main,omitempty"`
}

// KoDependencies are the files skiff dev watches for a ko artifact. Without
// paths, it watches the Go files of the packages the main package imports
// from its module (Skaffold watches **/*.go).
type KoDependencies struct {
	Paths  []string `yaml:"paths,omitempty"`
	Ignore []string `yaml:"ignore,omitempty"`
}

// CustomArtifact builds with a user command.
type CustomArtifact struct {
	BuildCommand string              `yaml:"buildCommand,omitempty"`
	Dependencies *CustomDependencies `yaml:"dependencies,omitempty"`
}

// CustomDependencies are the inputs a custom build watches.
type CustomDependencies struct {
	Dockerfile *DockerfileDependency `yaml:"dockerfile,omitempty" skiff:"oneOf=dependency"`
	Command    string                `yaml:"command,omitempty" skiff:"oneOf=dependency"`
	Paths      []string              `yaml:"paths,omitempty" skiff:"oneOf=dependency"`
	Ignore     []string              `yaml:"ignore,omitempty"`
}

// DockerfileDependency derives a custom build's inputs from a Dockerfile.
type DockerfileDependency struct {
	Path      string             `yaml:"path,omitempty"`
	BuildArgs map[string]*string `yaml:"buildArgs,omitempty" skiff:"template"`
}

// Sync copies changed files into running containers instead of rebuilding.
type Sync struct {
	Manual         []*SyncRule `yaml:"manual,omitempty" skiff:"oneOf=sync"`
	Infer          []string    `yaml:"infer,omitempty" skiff:"oneOf=sync"`
	Auto           *bool       `yaml:"auto,omitempty" skiff:"oneOf=sync,unsupported=auto sync needs jib or buildpacks; use manual or infer"`
	LifecycleHooks SyncHooks   `yaml:"hooks,omitempty"`
}

// SyncRule maps local files to a container path.
type SyncRule struct {
	Src   string `yaml:"src" skiff:"required"`
	Dest  string `yaml:"dest" skiff:"required"`
	Strip string `yaml:"strip,omitempty"`
}

// TestCase is a set of tests for one image.
type TestCase struct {
	ImageName         string       `yaml:"image" skiff:"required"`
	Workspace         string       `yaml:"context,omitempty" skiff:"path"`
	CustomTests       []CustomTest `yaml:"custom,omitempty"`
	StructureTests    []string     `yaml:"structureTests,omitempty" skiff:"path"`
	StructureTestArgs []string     `yaml:"structureTestsArgs,omitempty" skiff:"ignored=skiff runs structure tests natively"`
}

// CustomTest runs a command on the host with IMAGE set.
type CustomTest struct {
	Command        string `yaml:"command" skiff:"required"`
	TimeoutSeconds int    `yaml:"timeoutSeconds,omitempty"`
	Dependencies   Any    `yaml:"dependencies,omitempty"`
}

// RenderConfig describes how manifests are hydrated.
type RenderConfig struct {
	Generate  `yaml:",inline"`
	Transform *[]Any `yaml:"transform,omitempty" skiff:"unsupported=kpt transformers are not supported"`
	Validate  *[]Any `yaml:"validate,omitempty" skiff:"unsupported=kpt validators are not supported"`
	Output    string `yaml:"output,omitempty" skiff:"ignored=use skiff render -o"`
}

// Generate lists the sources of the manifests.
type Generate struct {
	RawK8s          []string    `yaml:"rawYaml,omitempty" skiff:"path"`
	RemoteManifests []Any       `yaml:"remoteManifests,omitempty" skiff:"unsupported=remote manifests are not supported"`
	Kustomize       *Kustomize  `yaml:"kustomize,omitempty"`
	Helm            *Helm       `yaml:"helm,omitempty"`
	Kpt             []string    `yaml:"kpt,omitempty" skiff:"unsupported=kpt is not supported; use kustomize or rawYaml"`
	LifecycleHooks  RenderHooks `yaml:"hooks,omitempty"`
}

// Kustomize renders kustomization directories.
type Kustomize struct {
	Paths     []string `yaml:"paths,omitempty" skiff:"path,template"`
	BuildArgs []string `yaml:"buildArgs,omitempty"`
}

// Helm renders charts.
type Helm struct {
	Flags    HelmDeployFlags `yaml:"flags,omitempty"`
	Releases []HelmRelease   `yaml:"releases,omitempty"`
}

// HelmDeployFlags are extra helm CLI flags in Skaffold; skiff accepts the
// ones it can honour in-process.
type HelmDeployFlags struct {
	Global   []string `yaml:"global,omitempty"`
	Install  []string `yaml:"install,omitempty"`
	Upgrade  []string `yaml:"upgrade,omitempty"`
	DepBuild []string `yaml:"depBuild,omitempty"`
	Template []string `yaml:"template,omitempty"`
}

// HelmRelease is one chart rendered as a release.
type HelmRelease struct {
	Name                  string            `yaml:"name" skiff:"required,template"`
	ChartPath             string            `yaml:"chartPath,omitempty" skiff:"oneOf=chartSource,path,template"`
	RemoteChart           string            `yaml:"remoteChart,omitempty" skiff:"oneOf=chartSource"`
	ValuesFiles           []string          `yaml:"valuesFiles,omitempty" skiff:"path,template"`
	Namespace             string            `yaml:"namespace,omitempty" skiff:"template"`
	Version               string            `yaml:"version,omitempty" skiff:"template"`
	SetValues             FlatMap           `yaml:"setValues,omitempty" skiff:"template"`
	SetValueTemplates     FlatMap           `yaml:"setValueTemplates,omitempty"`
	SetFiles              map[string]string `yaml:"setFiles,omitempty" skiff:"path"`
	CreateNamespace       *bool             `yaml:"createNamespace,omitempty"`
	Wait                  bool              `yaml:"wait,omitempty" skiff:"ignored=skiff's status check waits for every object"`
	RecreatePods          bool              `yaml:"recreatePods,omitempty" skiff:"ignored=skiff applies rendered manifests server-side"`
	SkipBuildDependencies bool              `yaml:"skipBuildDependencies,omitempty"`
	SkipTests             bool              `yaml:"skipTests,omitempty"`
	UseHelmSecrets        bool              `yaml:"useHelmSecrets,omitempty" skiff:"unsupported=the helm secrets plugin is not supported"`
	Repo                  string            `yaml:"repo,omitempty"`
	UpgradeOnChange       *bool             `yaml:"upgradeOnChange,omitempty" skiff:"ignored=skiff applies rendered manifests server-side"`
	Overrides             Any               `yaml:"overrides,omitempty"`
	Packaged              Any               `yaml:"packaged,omitempty" skiff:"unsupported=helm packaging is not supported"`
	DependsOn             []string          `yaml:"dependsOn,omitempty"`
}

// DeployConfig describes how manifests reach the cluster.
type DeployConfig struct {
	DeployType                    `yaml:",inline"`
	StatusCheck                   *bool      `yaml:"statusCheck,omitempty"`
	StatusCheckDeadlineSeconds    int        `yaml:"statusCheckDeadlineSeconds,omitempty"`
	TolerateFailuresUntilDeadline bool       `yaml:"tolerateFailuresUntilDeadline,omitempty"`
	KubeContext                   string     `yaml:"kubeContext,omitempty"`
	Logs                          LogsConfig `yaml:"logs,omitempty"`
}

// DeployType lists the deployers; skiff applies everything server-side, so
// kubectl and helm both mean "apply the rendered manifests".
type DeployType struct {
	DockerDeploy     Any               `yaml:"docker,omitempty" skiff:"unsupported=the docker deployer is not supported; skiff deploys to Kubernetes"`
	LegacyHelmDeploy *LegacyHelmDeploy `yaml:"helm,omitempty"`
	KptDeploy        Any               `yaml:"kpt,omitempty" skiff:"unsupported=the kpt deployer is not supported; use kubectl"`
	KubectlDeploy    *KubectlDeploy    `yaml:"kubectl,omitempty"`
	CloudRunDeploy   Any               `yaml:"cloudrun,omitempty" skiff:"unsupported=the Cloud Run deployer is not supported"`
}

// KubectlDeploy is Skaffold's kubectl deployer settings.
type KubectlDeploy struct {
	Flags            KubectlFlags `yaml:"flags,omitempty"`
	RemoteManifests  []string     `yaml:"remoteManifests,omitempty" skiff:"unsupported=remote manifests are not supported"`
	DefaultNamespace *string      `yaml:"defaultNamespace,omitempty" skiff:"template"`
	LifecycleHooks   DeployHooks  `yaml:"hooks,omitempty"`
}

// KubectlFlags are extra kubectl flags in Skaffold.
type KubectlFlags struct {
	Global            []string `yaml:"global,omitempty"`
	Apply             []string `yaml:"apply,omitempty"`
	Delete            []string `yaml:"delete,omitempty"`
	DisableValidation bool     `yaml:"disableValidation,omitempty"`
}

// LegacyHelmDeploy is Skaffold's deploy.helm: skiff renders these releases
// with the other manifests and applies them server-side.
type LegacyHelmDeploy struct {
	Concurrency    *int            `yaml:"concurrency,omitempty"`
	Releases       []HelmRelease   `yaml:"releases,omitempty"`
	Flags          HelmDeployFlags `yaml:"flags,omitempty"`
	LifecycleHooks DeployHooks     `yaml:"hooks,omitempty"`
}

// LogsConfig configures how container logs are printed.
type LogsConfig struct {
	Prefix    string          `yaml:"prefix,omitempty" skiff:"enum=auto|container|podAndContainer|none"`
	JSONParse JSONParseConfig `yaml:"jsonParse,omitempty"`
}

// JSONParseConfig selects fields of JSON log lines.
type JSONParseConfig struct {
	Fields []string `yaml:"fields,omitempty"`
}

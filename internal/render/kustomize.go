package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/skiff-dev/skiff/internal/manifest"
)

// krustyMu serialises kustomize runs: krusty keeps global state (the
// OpenAPI schema, plugin registries) and is not safe for concurrent use.
var krustyMu sync.Mutex

// supportedKustomizeFlags lists the `kustomize build` flags skiff honours in
// buildArgs, for the error message that rejects the others.
const supportedKustomizeFlags = "--load-restrictor, --enable-helm, --helm-command, --helm-api-versions, --helm-kube-version, --helm-debug, --enable-alpha-plugins, --enable-exec, --reorder, --enable-managedby-label"

// kustomizeOptions parses `kustomize build` flags into krusty options.
func kustomizeOptions(args []string) (*krusty.Options, error) {
	fs := pflag.NewFlagSet("kustomize build", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		return pflag.NormalizedName(strings.ReplaceAll(name, "_", "-"))
	})
	var (
		loadRestrictor = fs.String("load-restrictor", types.LoadRestrictionsRootOnly.String(), "")
		enableHelm     = fs.Bool("enable-helm", false, "")
		helmCommand    = fs.String("helm-command", "helm", "")
		helmAPIs       = fs.StringSlice("helm-api-versions", nil, "")
		helmKube       = fs.String("helm-kube-version", "", "")
		helmDebug      = fs.Bool("helm-debug", false, "")
		alphaPlugins   = fs.Bool("enable-alpha-plugins", false, "")
		enableExec     = fs.Bool("enable-exec", false, "")
		reorder        = fs.String("reorder", string(krusty.ReorderOptionUnspecified), "")
		managedBy      = fs.Bool("enable-managedby-label", false, "")
	)
	// Known to kustomize but not supported: declared so they are named.
	fs.StringArrayP("env", "e", nil, "")
	fs.StringArray("mount", nil, "")
	fs.Bool("network", false, "")
	fs.String("network-name", "", "")
	fs.Bool("as-current-user", false, "")
	fs.StringP("output", "o", "", "")
	fs.Bool("enable-star", false, "")
	fs.Bool("stack-trace", false, "")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%v; skiff supports %s", err, supportedKustomizeFlags)
	}
	var rejected []string
	fs.Visit(func(f *pflag.Flag) {
		switch f.Name {
		case "env", "mount", "network", "network-name", "as-current-user":
			rejected = append(rejected, "--"+f.Name+" (container KRM functions are not supported)")
		case "output":
			rejected = append(rejected, "--output (use skiff render -o)")
		case "enable-star", "stack-trace":
			rejected = append(rejected, "--"+f.Name)
		}
	})
	if len(rejected) > 0 {
		return nil, fmt.Errorf("unsupported flag %s; skiff supports %s", strings.Join(rejected, ", "), supportedKustomizeFlags)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: buildArgs take flags only; list kustomization directories in manifests.kustomize.paths", fs.Arg(0))
	}

	o := krusty.MakeDefaultOptions()
	switch *loadRestrictor {
	case types.LoadRestrictionsRootOnly.String():
		o.LoadRestrictions = types.LoadRestrictionsRootOnly
	case types.LoadRestrictionsNone.String():
		o.LoadRestrictions = types.LoadRestrictionsNone
	default:
		return nil, fmt.Errorf("--load-restrictor %q: use LoadRestrictionsRootOnly or LoadRestrictionsNone", *loadRestrictor)
	}
	switch krusty.ReorderOption(*reorder) {
	case krusty.ReorderOptionLegacy, krusty.ReorderOptionNone, krusty.ReorderOptionUnspecified:
		o.Reorder = krusty.ReorderOption(*reorder)
	default:
		return nil, fmt.Errorf("--reorder %q: use legacy or none", *reorder)
	}
	if *alphaPlugins {
		c := types.EnabledPluginConfig(types.BploUseStaticallyLinked)
		c.FnpLoadingOptions.EnableExec = *enableExec
		o.PluginConfig = c
	} else {
		o.PluginConfig.HelmConfig.Enabled = *enableHelm
	}
	o.PluginConfig.HelmConfig.Command = *helmCommand
	o.PluginConfig.HelmConfig.ApiVersions = *helmAPIs
	o.PluginConfig.HelmConfig.KubeVersion = *helmKube
	o.PluginConfig.HelmConfig.Debug = *helmDebug
	o.AddManagedbyLabel = *managedBy
	return o, nil
}

// renderKustomize builds one kustomization in-process, as `kustomize build`
// (and `kubectl kustomize`) would, on the real file system.
func renderKustomize(src KustomizeSource, namespace string) ([]item, []string, error) {
	where := "kustomize " + src.Path
	if strings.Contains(src.Path, "://") || strings.HasPrefix(src.Path, "github.com/") {
		return nil, nil, fmt.Errorf("%s: remote kustomizations are not supported; vendor it into the project", where)
	}
	info, err := os.Stat(src.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil, fmt.Errorf("%s: no such directory; fix manifests.kustomize.paths in the config", where)
	case err != nil:
		return nil, nil, fmt.Errorf("%s: %w", where, err)
	case !info.IsDir():
		return nil, nil, fmt.Errorf("%s: not a directory; manifests.kustomize.paths lists directories holding a kustomization.yaml", where)
	}
	if !hasKustomization(src.Path) {
		return nil, nil, fmt.Errorf("%s: no kustomization.yaml, kustomization.yml or Kustomization in the directory", where)
	}
	opts, err := kustomizeOptions(src.BuildArgs)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: buildArgs: %w", where, err)
	}

	objs, logged, err := runKrusty(opts, src.Path)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %s", where, oneLine(err.Error()))
	}
	var warnings []string
	for _, l := range strings.Split(logged, "\n") {
		if l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "# ")); l != "" {
			warnings = append(warnings, where+": "+l)
		}
	}

	items := make([]item, 0, len(objs))
	for _, u := range objs {
		o := manifest.Object{Unstructured: u, Origin: manifest.Origin{File: src.Path}}
		items = append(items, item{obj: o, source: where, defaultNS: namespace})
	}
	return items, warnings, nil
}

// runKrusty runs one kustomization. Kustomize prints deprecation warnings
// to os.Stderr and the standard logger; both are captured for the duration
// of the run and returned, since only the CLI prints. The swap is safe
// because krustyMu serialises runs and skiff's own output goes to the
// streams the CLI was given, not to the os.Stderr variable.
func runKrusty(opts *krusty.Options, path string) (objs []*unstructured.Unstructured, logged string, err error) {
	krustyMu.Lock()
	defer krustyMu.Unlock()
	var buf bytes.Buffer
	restore := captureStderr(&buf)
	defer func() { logged = restore() }()
	resMap, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), path)
	if err != nil {
		return nil, "", err
	}
	// Straight to JSON objects: cheaper than AsYaml and parsing it back.
	for _, r := range resMap.Resources() {
		data, err := r.MarshalJSON()
		if err != nil {
			return nil, "", err
		}
		u := &unstructured.Unstructured{}
		if err := json.Unmarshal(data, &u.Object); err != nil {
			return nil, "", err
		}
		if u.GetAPIVersion() == "" || u.GetKind() == "" || u.GetName() == "" && u.GetGenerateName() == "" {
			return nil, "", fmt.Errorf("output object %s has no apiVersion, kind or metadata.name", r.CurId())
		}
		objs = append(objs, u)
	}
	return objs, "", nil
}

// captureStderr sends the standard logger and os.Stderr to buf until the
// returned function is called; that function restores them and returns
// what was written.
func captureStderr(buf *bytes.Buffer) func() string {
	stdlogMu.Lock()
	prevOut, prevFlags := log.Writer(), log.Flags()
	log.SetOutput(buf)
	log.SetFlags(0)
	prevStderr := os.Stderr
	r, w, err := os.Pipe()
	var drained chan struct{}
	var piped bytes.Buffer
	if err == nil {
		os.Stderr = w
		drained = make(chan struct{})
		go func() {
			defer close(drained)
			_, _ = io.Copy(&piped, r)
		}()
	}
	return func() string {
		log.SetOutput(prevOut)
		log.SetFlags(prevFlags)
		stdlogMu.Unlock()
		if drained != nil {
			os.Stderr = prevStderr
			w.Close()
			<-drained
			r.Close()
		}
		return piped.String() + buf.String()
	}
}

func hasKustomization(dir string) bool {
	for _, name := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return true
		}
	}
	return false
}

package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/Masterminds/sprig/v3"
	"helm.sh/helm/v3/pkg/strvals"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/skiff-dev/skiff/internal/artifact"
)

// ImageTemplateVars returns the variables Skaffold gives helm
// setValueTemplates for builds: for the n-th build (1-based) and for its
// image name <s> (see TemplateSuffix), IMAGE_NAME, IMAGE_REPO, IMAGE_TAG,
// IMAGE_DIGEST, IMAGE_DOMAIN, IMAGE_REPO_NO_DOMAIN, IMAGE_FULLY_QUALIFIED
// (and the legacy DIGEST, DIGEST_ALGO, DIGEST_HEX), named K for the first
// build, Kn for the n-th (n ≥ 2) and K_<s> for every build.
func ImageTemplateVars(builds []artifact.Build) map[string]string {
	vars := map[string]string{}
	for i, b := range builds {
		idx := ""
		if i > 0 {
			idx = strconv.Itoa(i + 1)
		}
		suffix := "_" + TemplateSuffix(b.ImageName)
		for k, v := range imageVars(b) {
			vars[k+idx] = v
			vars[k+suffix] = v
		}
	}
	return vars
}

func imageVars(b artifact.Build) map[string]string {
	ref := parseImageRef(b.Tag)
	m := map[string]string{
		"IMAGE_NAME":   b.ImageName,
		"DIGEST":       b.Tag, // Skaffold keeps this name for compatibility
		"IMAGE_REPO":   ref.Repo,
		"IMAGE_TAG":    ref.Tag,
		"IMAGE_DIGEST": ref.Digest,
	}
	if b.Tag == "" {
		return m
	}
	// DIGEST_ALGO and DIGEST_HEX are deprecated in Skaffold and split the
	// whole reference at its first colon; kept as Skaffold computes them.
	if algo, hex, ok := strings.Cut(b.Tag, ":"); ok {
		m["DIGEST_ALGO"], m["DIGEST_HEX"] = algo, hex
	} else {
		m["DIGEST_HEX"] = b.Tag
	}
	m["IMAGE_DOMAIN"] = ref.Domain
	m["IMAGE_REPO_NO_DOMAIN"] = strings.TrimPrefix(ref.Repo, ref.Domain+"/")
	m["IMAGE_FULLY_QUALIFIED"] = b.Tag
	return m
}

// imageVarName matches the names ImageTemplateVars defines, for any build.
var imageVarName = regexp.MustCompile(`^(IMAGE_(NAME|REPO|TAG|DIGEST|DOMAIN|REPO_NO_DOMAIN|FULLY_QUALIFIED)|DIGEST(_ALGO|_HEX)?)([0-9]+|_.+)?$`)

// expandTemplate executes a Skaffold-style template (Go text/template with
// Sprig functions) over data. A missing environment variable expands to
// "", but a missing image variable is an error: it means the builds lack
// an image the chart needs, and deploying the chart's default image instead
// would be wrong.
func expandTemplate(text string, data map[string]string, builds []artifact.Build) (string, error) {
	if !strings.Contains(text, "{{") {
		return text, nil
	}
	t, err := template.New("").Funcs(sprig.TxtFuncMap()).Option("missingkey=zero").Parse(text)
	if err != nil {
		return "", fmt.Errorf("template %q: %v", text, err)
	}
	var missing string
	walkFields(t.Root, func(name string) {
		if _, ok := data[name]; !ok && missing == "" && imageVarName.MatchString(name) {
			missing = name
		}
	})
	if missing != "" {
		return "", fmt.Errorf("{{.%s}} has no value: %s", missing, describeBuilds(builds))
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return "", fmt.Errorf("template %q: %v", text, err)
	}
	return buf.String(), nil
}

func describeBuilds(builds []artifact.Build) string {
	if len(builds) == 0 {
		return "no builds were given; pass the artifacts file of skiff build with -a, or -i NAME=REF"
	}
	var names []string
	for _, b := range builds {
		names = append(names, b.ImageName+" (_"+TemplateSuffix(b.ImageName)+")")
	}
	return "the builds have only " + strings.Join(names, ", ") + "; pass the missing image with -a or -i NAME=REF"
}

// walkFields calls fn with the first identifier of every .Field reference.
func walkFields(node parse.Node, fn func(string)) {
	switch n := node.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			walkFields(c, fn)
		}
	case *parse.ActionNode:
		walkFields(n.Pipe, fn)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			walkFields(c, fn)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			walkFields(a, fn)
		}
	case *parse.FieldNode:
		if len(n.Ident) > 0 {
			fn(n.Ident[0])
		}
	case *parse.ChainNode:
		walkFields(n.Node, fn)
	case *parse.IfNode:
		walkBranch(&n.BranchNode, fn)
	case *parse.RangeNode:
		walkBranch(&n.BranchNode, fn)
	case *parse.WithNode:
		walkBranch(&n.BranchNode, fn)
	case *parse.TemplateNode:
		walkFields(n.Pipe, fn)
	}
}

func walkBranch(b *parse.BranchNode, fn func(string)) {
	walkFields(b.Pipe, fn)
	walkFields(b.List, fn)
	walkFields(b.ElseList, fn)
}

// helmValues builds a release's values with helm's precedence: overrides,
// then valuesFiles in order, then setValues, then setValueTemplates (both
// as --set, sorted by key, as Skaffold passes them), then setFiles.
func helmValues(rel HelmRelease, data map[string]string, builds []artifact.Build) (map[string]any, error) {
	vals, err := jsonCopy(rel.Overrides)
	if err != nil {
		return nil, fmt.Errorf("overrides: %v", err)
	}
	for _, f := range rel.ValuesFiles {
		path, err := expandTemplate(f, data, builds)
		if err != nil {
			return nil, fmt.Errorf("valuesFiles %s: %w", f, err)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("valuesFiles: %w", err)
		}
		var m map[string]any
		if err := sigsyaml.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("valuesFiles %s: %s", path, oneLine(err.Error()))
		}
		mergeValues(vals, m)
	}
	for _, k := range sortedKeys(rel.SetValues) {
		if err := strvals.ParseInto(k+"="+rel.SetValues[k], vals); err != nil {
			return nil, fmt.Errorf("setValues %s: %v", k, err)
		}
	}
	for _, k := range sortedKeys(rel.SetValueTemplates) {
		key, err := expandTemplate(k, data, builds)
		if err != nil {
			return nil, fmt.Errorf("setValueTemplates key %s: %w", k, err)
		}
		v, err := expandTemplate(rel.SetValueTemplates[k], data, builds)
		if err != nil {
			return nil, fmt.Errorf("setValueTemplates %s: %w", k, err)
		}
		// Skaffold trims a trailing "@" left by "{{.IMAGE_TAG}}@{{.IMAGE_DIGEST}}"
		// when the build has no digest.
		v = strings.TrimSuffix(v, "@")
		if err := strvals.ParseInto(key+"="+v, vals); err != nil {
			return nil, fmt.Errorf("setValueTemplates %s: %v", k, err)
		}
	}
	for _, k := range sortedKeys(rel.SetFiles) {
		path := rel.SetFiles[k]
		reader := func(rs []rune) (any, error) {
			data, err := os.ReadFile(string(rs))
			return string(data), err
		}
		if err := strvals.ParseIntoFile(k+"="+path, vals, reader); err != nil {
			return nil, fmt.Errorf("setFiles %s: %s", k, oneLine(err.Error()))
		}
	}
	return vals, nil
}

// mergeValues merges src into dst, recursing into maps; src wins.
func mergeValues(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeValues(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

// jsonCopy deep-copies values decoded from YAML into JSON types, as helm
// sees values read from a file.
func jsonCopy(m map[string]any) (map[string]any, error) {
	out := map[string]any{}
	if len(m) == 0 {
		return out, nil
	}
	data, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return out, json.Unmarshal(data, &out)
}

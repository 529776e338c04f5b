package ko

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// ko expands Go templates in flags and ldflags
// (https://ko.build/configuration/#templating-support), and so does skiff:
// {{.Env.NAME}} (the build's environment; LDFLAGS is empty unless set),
// {{.GoEnv.NAME}} (go env, with the build's environment over it),
// {{.Git.*}} (Branch, Tag, ShortCommit, FullCommit, CommitDate,
// CommitTimestamp, IsDirty, IsClean, TreeState), {{.Date}} and
// {{.Timestamp}} (the image's creation time, else now). The go tool and git
// are asked only when a flag has a template.

func hasTemplate(list []string) bool {
	for _, s := range list {
		if strings.Contains(s, "{{") {
			return true
		}
	}
	return false
}

func templateData(ctx context.Context, gotool, dir string, env []string, created time.Time) (map[string]any, error) {
	envVars := map[string]string{"LDFLAGS": ""}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("env: %q is not NAME=VALUE", kv)
		}
		envVars[k] = v
	}
	out, err := exec.CommandContext(ctx, gotool, "env", "-json").Output()
	if err != nil {
		return nil, fmt.Errorf("go env: %w", err)
	}
	goEnv := map[string]string{}
	if err := json.Unmarshal(out, &goEnv); err != nil {
		return nil, fmt.Errorf("reading go env: %w", err)
	}
	for k, v := range envVars {
		if _, ok := goEnv[k]; ok {
			goEnv[k] = v
		}
	}
	date := created
	if date.IsZero() {
		date = time.Now()
	}
	return map[string]any{
		"Env":       envVars,
		"GoEnv":     goEnv,
		"Git":       gitInfo(ctx, dir),
		"Date":      date.Format(time.RFC3339),
		"Timestamp": date.UTC().Unix(),
	}, nil
}

func expand(field string, list []string, data map[string]any) ([]string, error) {
	out := make([]string, 0, len(list))
	for _, s := range list {
		t, err := template.New(field).Option("missingkey=error").Parse(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %w", field, s, err)
		}
		var b bytes.Buffer
		if err := t.Execute(&b, data); err != nil {
			return nil, fmt.Errorf("%s: %q: %w (see https://ko.build/configuration/#templating-support for the names)", field, s, err)
		}
		out = append(out, b.String())
	}
	return out, nil
}

// gitInfo is {{.Git}} as ko fills it (pkg/internal/git): empty values
// outside a git work tree, Tag v0.0.0 when no tag is reachable.
func gitInfo(ctx context.Context, dir string) map[string]any {
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-c", "log.showSignature=false"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.Output()
		return strings.TrimSpace(strings.ReplaceAll(string(out), "'", "")), err
	}
	info := map[string]any{
		"Branch": "", "Tag": "", "ShortCommit": "", "FullCommit": "",
		"CommitDate": time.Time{}.UTC().Format(time.RFC3339), "CommitTimestamp": time.Time{}.UTC().Unix(),
		"IsDirty": false, "IsClean": true, "TreeState": "clean",
	}
	if inside, err := git("rev-parse", "--is-inside-work-tree"); err != nil || inside != "true" {
		return info
	}
	info["Branch"], _ = git("rev-parse", "--abbrev-ref", "HEAD", "--quiet")
	info["ShortCommit"], _ = git("show", "--format=%h", "HEAD", "--quiet")
	info["FullCommit"], _ = git("show", "--format=%H", "HEAD", "--quiet")
	if ct, err := git("show", "--format=%ct", "HEAD", "--quiet"); err == nil {
		if n, err := strconv.ParseInt(ct, 10, 64); err == nil {
			d := time.Unix(n, 0).UTC()
			info["CommitDate"], info["CommitTimestamp"] = d.Format(time.RFC3339), d.Unix()
		}
	}
	if status, err := git("status", "--porcelain"); err != nil || status != "" {
		info["IsDirty"], info["IsClean"], info["TreeState"] = true, false, "dirty"
	}
	info["Tag"] = "v0.0.0"
	if tag, err := git("describe", "--tags", "--abbrev=0", "HEAD"); err == nil && tag != "" {
		info["Tag"] = strings.SplitN(tag, "\n", 2)[0]
	}
	return info
}

package render

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/skiff-dev/skiff/internal/manifest"
)

// renderRawYAML reads the files the rawYaml patterns name, in order.
func renderRawYAML(ctx context.Context, patterns []string, namespace string) ([]item, error) {
	files, err := expandRawYAML(patterns)
	if err != nil {
		return nil, err
	}
	var items []item
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("rawYaml: %w", err)
		}
		objs, err := manifest.Parse(data, f)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			items = append(items, item{obj: o, source: o.Origin.String(), defaultNS: namespace})
		}
	}
	return items, nil
}

// expandRawYAML turns rawYaml entries into a deterministic, duplicate-free
// list of files. A literal path is taken as is, whatever its extension; a
// glob or a directory contributes its .yaml, .yml and .json files, in
// lexical order. An entry that names nothing is an error: a typo must not
// silently drop manifests from a deploy.
func expandRawYAML(patterns []string) ([]string, error) {
	var (
		files []string
		seen  = map[string]bool{}
		found int // files the current entry named, seen before or not
	)
	add := func(f string) {
		found++
		if !seen[f] {
			seen[f] = true
			files = append(files, f)
		}
	}
	for _, p := range patterns {
		if strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://") {
			return nil, fmt.Errorf("rawYaml %s: remote manifests are not supported; download the file into the project so renders are reproducible", p)
		}
		matches, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("rawYaml %q: bad pattern: %v", p, err)
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("rawYaml %s matches no file; fix manifests.rawYaml in the config", p)
		}
		found = 0
		for _, m := range matches {
			info, err := os.Stat(m)
			if err != nil {
				return nil, fmt.Errorf("rawYaml %s: %w", p, err)
			}
			switch {
			case info.IsDir():
				if err := walkManifests(m, add); err != nil {
					return nil, fmt.Errorf("rawYaml %s: %w", p, err)
				}
			case !hasMeta(p) || isManifestFile(m):
				add(m)
			}
		}
		if found == 0 {
			return nil, fmt.Errorf("rawYaml %s matches no .yaml, .yml or .json file; fix manifests.rawYaml in the config", p)
		}
	}
	return files, nil
}

func walkManifests(dir string, add func(string)) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && isManifestFile(path) {
			add(path)
		}
		return nil
	})
}

func isManifestFile(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

func hasMeta(p string) bool {
	return strings.ContainsAny(p, `*?[\`)
}

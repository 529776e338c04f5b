package ko

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// koYAML is what skiff reads of ko's .ko.yaml, as Skaffold's ko builder
// does through ko: the base images, and the builds whose settings apply
// when the artifact gives none of dir, main, env, flags and ldflags.
type koYAML struct {
	file               string
	DefaultBaseImage   string            `yaml:"defaultBaseImage"`
	BaseImageOverrides map[string]string `yaml:"baseImageOverrides"`
	Builds             []koYAMLBuild     `yaml:"builds"`
}

type koYAMLBuild struct {
	ID      string   `yaml:"id"`
	Dir     string   `yaml:"dir"`
	Main    string   `yaml:"main"`
	Env     []string `yaml:"env"`
	Flags   []string `yaml:"flags"`
	Ldflags []string `yaml:"ldflags"`
}

// readKoYAML reads KO_CONFIG_PATH (a file, or a directory holding
// .ko.yaml), else dir/.ko.yaml; a missing file is an empty configuration.
func readKoYAML(dir string) (koYAML, error) {
	p := filepath.Join(dir, ".ko.yaml")
	if env := os.Getenv("KO_CONFIG_PATH"); env != "" {
		p = env
		if fi, err := os.Stat(env); err == nil && fi.IsDir() {
			p = filepath.Join(env, ".ko.yaml")
		}
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return koYAML{}, nil
	}
	if err != nil {
		return koYAML{}, err
	}
	c := koYAML{file: p}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	// A key skiff does not act on (defaultPlatforms, defaultLdflags, …)
	// is refused by name rather than ignored.
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return koYAML{}, fmt.Errorf("%s: %v (skiff reads defaultBaseImage, baseImageOverrides and builds with id, dir, main, env, flags and ldflags)", p, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return c, nil
}

// baseFor is the base image of an import path: its override (keys match
// case-insensitively, as ko's do), else the default, else ko's.
func (c koYAML) baseFor(importPath string) string {
	for k, v := range c.BaseImageOverrides {
		if strings.EqualFold(k, importPath) {
			return v
		}
	}
	if c.DefaultBaseImage != "" {
		return c.DefaultBaseImage
	}
	return DefaultBaseImage
}

// buildFor returns the .ko.yaml build whose main package is importPath
// (with Scheme), if any.
func (c koYAML) buildFor(dir, importPath string) (koYAMLBuild, bool) {
	for _, b := range c.Builds {
		main := b.Main
		if main == "" {
			main = "."
		}
		if !strings.HasPrefix(main, ".") && !strings.HasPrefix(main, "/") {
			main = "./" + main
		}
		if q, err := Qualify(filepath.Join(dir, b.Dir), main); err == nil && q == importPath {
			return b, true
		}
	}
	return koYAMLBuild{}, false
}

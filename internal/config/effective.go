package config

import (
	"bytes"

	"gopkg.in/yaml.v3"
)

// EffectiveYAML renders the configuration after requires, profiles, patches,
// templates and defaults: one YAML document per module (the skiff/v1
// document first when it only points at a Skaffold file). The output is
// deterministic.
func (p *Project) EffectiveYAML() ([]byte, error) {
	var docs []*Config
	if p.Skiff != nil && p.Skiff.Skaffold != "" {
		docs = append(docs, p.Skiff)
	}
	docs = append(docs, p.Configs...)
	var buf bytes.Buffer
	for i, c := range docs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		if c.defaultManifests {
			shown := *c
			shown.Render.RawK8s = nil
			c = &shown
		}
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(c); err != nil {
			return nil, err
		}
		if err := enc.Close(); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

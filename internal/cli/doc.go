// Package cli is skiff's command tree: one file per verb, flags turned into
// engine options, and all printing (tables, YAML, JSON, progress). Engines in
// the other internal packages return data and events; only this package
// writes to stdout and stderr.
package cli

package cli

import (
	"encoding/json"
	"io"
	"slices"
	"strings"
)

// checkOutput validates an -o/--output value against the formats a
// command prints.
func checkOutput(output string, formats ...string) error {
	if slices.Contains(formats, output) {
		return nil
	}
	return usageError("--output %q: use %s", output, strings.Join(formats, " or "))
}

// writeJSON writes v as indented JSON, the -o json form of every command.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// hasConfig reports whether a configuration is there to load: -f, or a
// default file in the working directory. Some commands work without one.
func (g *globalOptions) hasConfig() bool {
	return g.Filename != "" || hasConfigFile()
}

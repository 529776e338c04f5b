package imagetest

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Suite is a container-structure-test file (schemaVersion 2.0.0).
type Suite struct {
	SchemaVersion      string              `yaml:"schemaVersion"`
	GlobalEnvVars      []EnvVar            `yaml:"globalEnvVars,omitempty"`
	CommandTests       []CommandTest       `yaml:"commandTests,omitempty"`
	FileExistenceTests []FileExistenceTest `yaml:"fileExistenceTests,omitempty"`
	FileContentTests   []FileContentTest   `yaml:"fileContentTests,omitempty"`
	MetadataTest       *MetadataTest       `yaml:"metadataTest,omitempty"`
	LicenseTests       []yaml.Node         `yaml:"licenseTests,omitempty"`
	ContainerRunOpts   *yaml.Node          `yaml:"containerRunOptions,omitempty"`
}

// EnvVar is a key/value environment variable.
type EnvVar struct {
	Key     string `yaml:"key"`
	Value   string `yaml:"value"`
	IsRegex bool   `yaml:"isRegex,omitempty"`
}

// CommandTest runs a command in the image.
type CommandTest struct {
	Name           string     `yaml:"name"`
	Setup          [][]string `yaml:"setup,omitempty"`
	Teardown       [][]string `yaml:"teardown,omitempty"`
	EnvVars        []EnvVar   `yaml:"envVars,omitempty"`
	Command        string     `yaml:"command"`
	Args           []string   `yaml:"args,omitempty"`
	ExitCode       int        `yaml:"exitCode,omitempty"`
	ExpectedOutput []string   `yaml:"expectedOutput,omitempty"`
	ExcludedOutput []string   `yaml:"excludedOutput,omitempty"`
	ExpectedError  []string   `yaml:"expectedError,omitempty"`
	ExcludedError  []string   `yaml:"excludedError,omitempty"`
}

// FileExistenceTest checks a path exists (or not) with a mode and owner.
type FileExistenceTest struct {
	Name           string `yaml:"name"`
	Path           string `yaml:"path"`
	ShouldExist    *bool  `yaml:"shouldExist,omitempty"`
	Permissions    string `yaml:"permissions,omitempty"`
	UID            *int   `yaml:"uid,omitempty"`
	GID            *int   `yaml:"gid,omitempty"`
	IsExecutableBy string `yaml:"isExecutableBy,omitempty"`
}

// FileContentTest checks a file's contents against regexps.
type FileContentTest struct {
	Name             string   `yaml:"name"`
	Path             string   `yaml:"path"`
	ExpectedContents []string `yaml:"expectedContents,omitempty"`
	ExcludedContents []string `yaml:"excludedContents,omitempty"`
}

// MetadataTest checks the image config.
type MetadataTest struct {
	EnvVars          []EnvVar  `yaml:"envVars,omitempty"`
	Labels           []EnvVar  `yaml:"labels,omitempty"`
	ExposedPorts     []string  `yaml:"exposedPorts,omitempty"`
	UnexposedPorts   []string  `yaml:"unexposedPorts,omitempty"`
	Volumes          []string  `yaml:"volumes,omitempty"`
	UnmountedVolumes []string  `yaml:"unmountedVolumes,omitempty"`
	Entrypoint       *[]string `yaml:"entrypoint,omitempty"`
	Cmd              *[]string `yaml:"cmd,omitempty"`
	Workdir          string    `yaml:"workdir,omitempty"`
	User             string    `yaml:"user,omitempty"`
}

var yamlLine = regexp.MustCompile(`line (\d+): (.*)`)

// ReadSuite reads and checks a structure test file. Errors name the file and
// line.
func ReadSuite(path string) (*Suite, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading structure test: %w", err)
	}
	return ParseSuite(data, path)
}

// ParseSuite parses a structure test file; name is used in errors.
func ParseSuite(data []byte, name string) (*Suite, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Suite
	if err := dec.Decode(&s); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.ReplaceAll(msg, "\n", "; ")
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			return nil, fmt.Errorf("%s:%s: %s", name, m[1], m[2])
		}
		return nil, fmt.Errorf("%s: %s", name, msg)
	}
	if s.SchemaVersion != "2.0.0" {
		return nil, fmt.Errorf("%s: schemaVersion %q: only container-structure-test schema 2.0.0 is supported", name, s.SchemaVersion)
	}
	if len(s.LicenseTests) > 0 {
		return nil, fmt.Errorf("%s: licenseTests are not supported by skiff", name)
	}
	if s.ContainerRunOpts != nil {
		return nil, fmt.Errorf("%s: containerRunOptions are not supported: skiff runs command tests in the image's filesystem, not in a container", name)
	}
	for i, t := range s.CommandTests {
		if t.Name == "" || t.Command == "" {
			return nil, fmt.Errorf("%s: commandTests[%d]: name and command are required", name, i)
		}
		if err := checkRegexps(t.ExpectedOutput, t.ExcludedOutput, t.ExpectedError, t.ExcludedError); err != nil {
			return nil, fmt.Errorf("%s: commandTests[%d] %q: %w", name, i, t.Name, err)
		}
	}
	for i, t := range s.FileExistenceTests {
		if t.Name == "" || t.Path == "" {
			return nil, fmt.Errorf("%s: fileExistenceTests[%d]: name and path are required", name, i)
		}
		switch t.IsExecutableBy {
		case "", "owner", "group", "other", "any":
		default:
			return nil, fmt.Errorf("%s: fileExistenceTests[%d]: isExecutableBy %q: use owner, group, other or any", name, i, t.IsExecutableBy)
		}
	}
	for i, t := range s.FileContentTests {
		if t.Name == "" || t.Path == "" {
			return nil, fmt.Errorf("%s: fileContentTests[%d]: name and path are required", name, i)
		}
		if err := checkRegexps(t.ExpectedContents, t.ExcludedContents); err != nil {
			return nil, fmt.Errorf("%s: fileContentTests[%d] %q: %w", name, i, t.Name, err)
		}
	}
	return &s, nil
}

func checkRegexps(lists ...[]string) error {
	for _, l := range lists {
		for _, r := range l {
			if _, err := regexp.Compile(r); err != nil {
				return fmt.Errorf("invalid regular expression %q: %v", r, err)
			}
		}
	}
	return nil
}

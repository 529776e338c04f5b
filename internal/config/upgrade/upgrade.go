package upgrade

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Target is the version every file is upgraded to.
const Target = "skaffold/v4beta13"

// versions are Skaffold's schema versions from the oldest skiff upgrades to
// Target, in Skaffold's order (pkg/skaffold/schema/versions.go).
var versions = func() []string {
	var v []string
	for i := 1; i <= 29; i++ {
		v = append(v, "skaffold/v2beta"+strconv.Itoa(i))
	}
	v = append(v, "skaffold/v3alpha1", "skaffold/v3")
	for i := 1; i <= 13; i++ {
		v = append(v, "skaffold/v4beta"+strconv.Itoa(i))
	}
	return v
}()

// steps are the versions whose upgrade to the next one changes more than
// apiVersion, keyed by the version upgraded from. Every other step of
// Skaffold's chain only sets apiVersion (their upgrade.go files have an
// empty upgradeOnePipeline).
var steps = map[string]func(u *upgrader, pl *yaml.Node, path string) error{
	"skaffold/v2beta3":  helmValuesToArtifactOverrides,
	"skaffold/v2beta4":  clusterPullSecret,
	"skaffold/v2beta8":  syncAutoBool,
	"skaffold/v2beta12": helmRemoteChart,
	"skaffold/v2beta16": dockerSecret,
	"skaffold/v2beta27": koPlatforms,
	"skaffold/v2beta29": splitRenderFromDeploy,
	"skaffold/v3":       remoteManifests,
}

// Result says what Upgrade did.
type Result struct {
	// From is the apiVersion of each document, in order.
	From []string
	// Changed reports whether any document was upgraded.
	Changed bool
	// Warnings name what the upgrade could not carry over.
	Warnings []string
}

// Error is an upgrade failure at a position of the file.
type Error struct {
	File         string
	Line, Column int
	Path         string
	Msg          string
}

func (e *Error) Error() string {
	pos := e.File
	if e.Line > 0 {
		pos += ":" + strconv.Itoa(e.Line)
		if e.Column > 0 {
			pos += ":" + strconv.Itoa(e.Column)
		}
	}
	if e.Path != "" {
		return pos + ": " + e.Path + ": " + e.Msg
	}
	return pos + ": " + e.Msg
}

type upgrader struct {
	file     string
	warnings []string
	// profile is the profile node being upgraded, nil for the main
	// pipeline; main is the document.
	profile, main *yaml.Node
}

func (u *upgrader) errorf(n *yaml.Node, path, format string, args ...any) error {
	e := &Error{File: u.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	return e
}

func (u *upgrader) warnf(n *yaml.Node, path, format string, args ...any) {
	u.warnings = append(u.warnings, u.errorf(n, path, format, args...).Error())
}

var skaffoldVersion = regexp.MustCompile(`^skaffold/v\d`)

// Upgrade rewrites every skaffold/* document of data (a file named file,
// for messages) to Target. Documents already at Target or later, and
// skiff/v1 documents, are left as they are. Comments are kept.
func Upgrade(data []byte, file string) ([]byte, Result, error) {
	var res Result
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var d yaml.Node
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, res, &Error{File: file, Msg: "malformed YAML: " + err.Error()}
		}
		docs = append(docs, &d)
	}
	u := &upgrader{file: file}
	for _, d := range docs {
		if len(d.Content) == 0 || d.Content[0].Kind != yaml.MappingNode {
			continue
		}
		from, err := u.document(d.Content[0])
		if err != nil {
			return nil, res, err
		}
		res.From = append(res.From, from)
		if from != "" && from != Target && slices.Index(versions, from) >= 0 {
			res.Changed = true
		}
	}
	res.Warnings = u.warnings
	if !res.Changed {
		return data, res, nil
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			return nil, res, fmt.Errorf("%s: writing the upgraded configuration: %w", file, err)
		}
	}
	if err := enc.Close(); err != nil {
		return nil, res, err
	}
	return out.Bytes(), res, nil
}

// document upgrades one document in place and returns its old apiVersion.
func (u *upgrader) document(doc *yaml.Node) (string, error) {
	av := get(doc, "apiVersion")
	if av == nil || av.Kind != yaml.ScalarNode {
		return "", u.errorf(doc, "apiVersion", "missing apiVersion")
	}
	from := av.Value
	start := slices.Index(versions, from)
	switch {
	case start >= 0:
	case !skaffoldVersion.MatchString(from):
		return from, nil // skiff/v1, or not a Skaffold file: nothing to upgrade
	case regexp.MustCompile(`^skaffold/v4beta(1[4-9]|[2-9]\d)$`).MatchString(from):
		return from, nil // newer than Target
	default:
		return "", u.errorf(av, "apiVersion", "%s is older than skaffold/v2beta1, the oldest version skiff fix upgrades; run `skaffold fix` of Skaffold v1 once to reach skaffold/v2beta*, then skiff fix", from)
	}
	u.main = doc
	for _, v := range versions[start : len(versions)-1] {
		step := steps[v]
		if step == nil {
			continue
		}
		if v == "skaffold/v2beta29" {
			if err := u.migratePatches(doc); err != nil {
				return "", err
			}
		}
		u.profile = nil
		if err := step(u, doc, ""); err != nil {
			return "", err
		}
		if profiles := get(doc, "profiles"); profiles != nil && profiles.Kind == yaml.SequenceNode {
			for i, p := range profiles.Content {
				u.profile = p
				if err := step(u, p, fmt.Sprintf("profiles[%d].", i)); err != nil {
					return "", err
				}
			}
		}
	}
	av.Value = Target
	av.Style = 0
	return from, nil
}

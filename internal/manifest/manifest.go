package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	sigsyaml "sigs.k8s.io/yaml"
)

// Origin is where an object was read from. The zero Origin means the object
// was generated (by kustomize or helm, say).
type Origin struct {
	File string
	Line int
}

func (o Origin) String() string {
	switch {
	case o.File == "":
		return ""
	case o.Line > 0:
		return fmt.Sprintf("%s:%d", o.File, o.Line)
	}
	return o.File
}

// Object is a Kubernetes object with its origin.
type Object struct {
	*unstructured.Unstructured
	Origin Origin
}

// GroupKind returns the object's group and kind.
func (o Object) GroupKind() schema.GroupKind {
	return o.GroupVersionKind().GroupKind()
}

// ID names the object in messages: Kind/name, or Kind namespace/name.
func (o Object) ID() string { return ID(o.Unstructured) }

// ID names u in messages as Kind.group namespace/name.
func ID(u *unstructured.Unstructured) string {
	gk := u.GroupVersionKind().GroupKind()
	kind := gk.Kind
	if gk.Group != "" {
		kind += "." + gk.Group
	}
	if ns := u.GetNamespace(); ns != "" {
		return kind + " " + ns + "/" + u.GetName()
	}
	return kind + " " + u.GetName()
}

// Key identifies an object uniquely regardless of its API version:
// group/kind/namespace/name.
func Key(u *unstructured.Unstructured) string {
	gk := u.GroupVersionKind().GroupKind()
	return gk.Group + "/" + gk.Kind + "/" + u.GetNamespace() + "/" + u.GetName()
}

var lineInError = regexp.MustCompile(`line (\d+)`)

// Parse reads a multi-document YAML stream. Empty documents and comments are
// skipped; a `kind: List` is flattened. file names the source in errors and
// origins. Every error is one line naming file:line.
func Parse(data []byte, file string) ([]Object, error) {
	var out []Object
	for _, doc := range splitDocuments(data) {
		objs, err := parseDocument(doc.body, file, doc.line)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

// ReadFiles parses each path in order; "-" reads stdin.
func ReadFiles(paths []string, stdin io.Reader) ([]Object, error) {
	var out []Object
	for _, p := range paths {
		var (
			data []byte
			err  error
			name = p
		)
		if p == "-" {
			name = "<stdin>"
			data, err = io.ReadAll(stdin)
		} else {
			data, err = os.ReadFile(p)
		}
		if err != nil {
			return nil, fmt.Errorf("reading manifests: %w", err)
		}
		objs, err := Parse(data, name)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

type document struct {
	body []byte
	line int // line of the document's first line in the file, 1-based
}

// splitDocuments splits on "---" separator lines, remembering where each
// document starts so errors can name the file's line.
func splitDocuments(data []byte) []document {
	var (
		docs  []document
		cur   bytes.Buffer
		start = 1
		n     = 0
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), len(data)+1)
	for sc.Scan() {
		n++
		line := sc.Text()
		if line == "---" || strings.HasPrefix(line, "--- ") || strings.HasPrefix(line, "---\t") {
			docs = append(docs, document{body: bytes.Clone(cur.Bytes()), line: start})
			cur.Reset()
			start = n + 1
			continue
		}
		if line == "..." {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	docs = append(docs, document{body: cur.Bytes(), line: start})
	return docs
}

func parseDocument(body []byte, file string, firstLine int) ([]Object, error) {
	var node yaml.Node
	if err := yaml.Unmarshal(body, &node); err != nil {
		return nil, fmt.Errorf("%s: malformed YAML: %s", positionOf(err.Error(), file, firstLine), stripLine(err.Error()))
	}
	if len(node.Content) == 0 {
		return nil, nil // empty document or comments only
	}
	root := node.Content[0]
	line := firstLine + root.Line - 1
	where := Origin{File: file, Line: line}.String()
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: a manifest document must be a mapping with apiVersion and kind", where)
	}
	jsonData, err := sigsyaml.YAMLToJSON(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", where, stripLine(err.Error()))
	}
	var m map[string]any
	if err := json.Unmarshal(jsonData, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", where, err)
	}
	u := &unstructured.Unstructured{Object: m}
	if u.GetAPIVersion() == "" || u.GetKind() == "" {
		return nil, fmt.Errorf("%s: object has no apiVersion or kind; every manifest document needs both", where)
	}
	if u.IsList() {
		var out []Object
		err := u.EachListItem(func(item runtimeObject) error {
			iu, ok := item.(*unstructured.Unstructured)
			if !ok {
				return fmt.Errorf("%s: list item is not an object", where)
			}
			if iu.GetAPIVersion() == "" || iu.GetKind() == "" {
				return fmt.Errorf("%s: list item %d has no apiVersion or kind; every item needs both", where, len(out))
			}
			if iu.GetName() == "" && iu.GetGenerateName() == "" {
				return fmt.Errorf("%s: list item %d (%s) has no metadata.name", where, len(out), iu.GetKind())
			}
			out = append(out, Object{Unstructured: iu, Origin: Origin{File: file, Line: line}})
			return nil
		})
		return out, err
	}
	if u.GetName() == "" && u.GetGenerateName() == "" {
		return nil, fmt.Errorf("%s: %s has no metadata.name", where, u.GetKind())
	}
	return []Object{{Unstructured: u, Origin: Origin{File: file, Line: line}}}, nil
}

// positionOf turns a YAML library's "line N" (relative to the document) into
// file:line of the whole file.
func positionOf(msg, file string, firstLine int) string {
	if m := lineInError.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return Origin{File: file, Line: firstLine + n - 1}.String()
	}
	return Origin{File: file, Line: firstLine}.String()
}

func stripLine(msg string) string {
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = lineInError.ReplaceAllString(msg, "")
	msg = strings.TrimPrefix(strings.TrimSpace(msg), ": ")
	return strings.TrimSpace(msg)
}

// Package artifact reads and writes the artifacts file, the contract between
// build and render: Skaffold's format {"builds":[{"imageName":…,"tag":…}]},
// so existing pipelines that pass it between jobs keep working.
package artifact

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Build is one built image: the configured image name and the reference it
// was pushed as, normally repo:tag@sha256:digest.
type Build struct {
	ImageName string `json:"imageName"`
	Tag       string `json:"tag"`
}

// File is the artifacts file.
type File struct {
	Builds []Build `json:"builds"`
}

// Lookup returns the build of imageName.
func (f *File) Lookup(imageName string) (Build, bool) {
	if f == nil {
		return Build{}, false
	}
	for _, b := range f.Builds {
		if b.ImageName == imageName {
			return b, true
		}
	}
	return Build{}, false
}

// Set adds or replaces the build of b.ImageName.
func (f *File) Set(b Build) {
	for i := range f.Builds {
		if f.Builds[i].ImageName == b.ImageName {
			f.Builds[i] = b
			return
		}
	}
	f.Builds = append(f.Builds, b)
}

// Write writes f as JSON, builds sorted by image name so the file is
// deterministic.
func (f *File) Write(w io.Writer) error {
	out := File{Builds: append([]Build{}, f.Builds...)}
	if out.Builds == nil {
		out.Builds = []Build{}
	}
	sort.SliceStable(out.Builds, func(i, j int) bool { return out.Builds[i].ImageName < out.Builds[j].ImageName })
	data, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

// WriteFile writes f to path atomically enough for CI: a temp file renamed.
func (f *File) WriteFile(path string) error {
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing artifacts file: %w", err)
	}
	return os.Rename(tmp, path)
}

// Read parses an artifacts file; source names it in errors.
func Read(r io.Reader, source string) (*File, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading artifacts file %s: %w", source, err)
	}
	var f File
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&f); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line := 1 + bytes.Count(data[:se.Offset], []byte("\n"))
			return nil, fmt.Errorf("artifacts file %s:%d: %v; expected {\"builds\":[{\"imageName\":…,\"tag\":…}]}", source, line, se)
		}
		return nil, fmt.Errorf("artifacts file %s: %v; expected {\"builds\":[{\"imageName\":…,\"tag\":…}]}", source, err)
	}
	for i, b := range f.Builds {
		if err := b.validate(); err != nil {
			return nil, fmt.Errorf("artifacts file %s: builds[%d]: %w", source, i, err)
		}
	}
	return &f, nil
}

// ReadFile reads the artifacts file at path, or standard input for "-".
func ReadFile(path string, stdin io.Reader) (*File, error) {
	if path == "-" {
		return Read(stdin, "<stdin>")
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening artifacts file: %w", err)
	}
	defer fh.Close()
	return Read(fh, path)
}

func (b Build) validate() error {
	if b.ImageName == "" {
		return errors.New("imageName is empty")
	}
	if b.Tag == "" {
		return fmt.Errorf("image %s: tag is empty", b.ImageName)
	}
	if _, err := name.ParseReference(b.Tag, name.WeakValidation); err != nil {
		return fmt.Errorf("image %s: tag %q is not an image reference: %v", b.ImageName, b.Tag, err)
	}
	return nil
}

// ParseImages turns -i/--images values of the form name=tag into builds.
func ParseImages(values []string) (*File, error) {
	f := &File{}
	for _, v := range values {
		imageName, tag, ok := strings.Cut(v, "=")
		if !ok {
			imageName, tag = v, v
		}
		b := Build{ImageName: strings.TrimSpace(imageName), Tag: strings.TrimSpace(tag)}
		if !ok {
			// A bare reference names itself: strip tag and digest for the name.
			b.ImageName = Repository(v)
		}
		if err := b.validate(); err != nil {
			return nil, fmt.Errorf("--images %q: %w", v, err)
		}
		f.Set(b)
	}
	return f, nil
}

// Merge returns the builds of f overridden by those of other.
func (f *File) Merge(other *File) *File {
	out := &File{}
	if f != nil {
		out.Builds = append(out.Builds, f.Builds...)
	}
	if other != nil {
		for _, b := range other.Builds {
			out.Set(b)
		}
	}
	return out
}

// Repository strips the tag and digest from an image reference as written,
// without normalising it (no docker.io/library/ prefix is added), which is
// how image names in manifests and skaffold.yaml are compared.
func Repository(ref string) string {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	slash := strings.LastIndexByte(ref, '/')
	if i := strings.LastIndexByte(ref, ':'); i > slash {
		ref = ref[:i]
	}
	return ref
}

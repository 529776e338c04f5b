package artifact

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestFileRoundTrip: what WriteFile writes, ReadFile reads back unchanged
// (builds sorted by image name), in Skaffold's --file-output format, and the
// write leaves no temporary file behind.
func TestFileRoundTrip(t *testing.T) {
	f := &File{}
	f.Set(Build{ImageName: "web", Tag: "registry.test:5000/web:v1@sha256:" + strings.Repeat("a", 64)})
	f.Set(Build{ImageName: "api", Tag: "registry.test:5000/api:v1"})
	f.Set(Build{ImageName: "web", Tag: "registry.test:5000/web:v2@sha256:" + strings.Repeat("b", 64)}) // replaces v1
	dir := t.TempDir()
	path := filepath.Join(dir, "build.json")
	if err := f.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"builds":[{"imageName":"api","tag":"registry.test:5000/api:v1"},{"imageName":"web","tag":"registry.test:5000/web:v2@sha256:` + strings.Repeat("b", 64) + `"}]}` + "\n"
	if string(data) != want {
		t.Errorf("file:\n%s\nwant:\n%s", data, want)
	}
	got, err := ReadFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Build{{"api", "registry.test:5000/api:v1"}, {"web", "registry.test:5000/web:v2@sha256:" + strings.Repeat("b", 64)}}, got.Builds); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	// Standard input reads the same.
	fromStdin, err := ReadFile("-", bytes.NewReader(data))
	if err != nil || !cmp.Equal(fromStdin.Builds, got.Builds) {
		t.Errorf("from stdin: %v, %v", fromStdin, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("WriteFile left %d files in the directory, want 1", len(entries))
	}
	// An empty file writes an empty list, not null, and reads back empty.
	empty := filepath.Join(dir, "empty.json")
	if err := (&File{}).WriteFile(empty); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(empty); string(data) != "{\"builds\":[]}\n" {
		t.Errorf("empty file %q", data)
	}
	if f, err := ReadFile(empty, nil); err != nil || len(f.Builds) != 0 {
		t.Errorf("empty file read back as %v, %v", f, err)
	}
}

// Bad files fail with one line naming the file (and line) and what was
// expected.
func TestReadErrors(t *testing.T) {
	tests := []struct{ name, data, want string }{
		{"syntax", "{\"builds\": [\n{\"imageName\": \"a\",,}]}", "artifacts file bad.json:2: "},
		{"wrong type", `{"builds": {}}`, `expected {"builds":[{"imageName":…,"tag":…}]}`},
		{"no image name", `{"builds": [{"tag": "a:1"}]}`, "builds[0]: imageName is empty"},
		{"no tag", `{"builds": [{"imageName": "a"}]}`, "builds[0]: image a: tag is empty"},
		{"bad tag", `{"builds": [{"imageName": "a", "tag": "UPPER CASE"}]}`, "builds[0]: image a: tag \"UPPER CASE\" is not an image reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tt.data), "bad.json")
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v, want one line containing %q", err, tt.want)
			}
		})
	}
}

func TestParseImagesAndMerge(t *testing.T) {
	f, err := ParseImages([]string{"web=r.test/web:v1", "r.test/api:v2@sha256:" + strings.Repeat("c", 64)})
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := f.Lookup("r.test/api"); !ok || b.Tag != "r.test/api:v2@sha256:"+strings.Repeat("c", 64) {
		t.Errorf("a bare reference names itself: %v %v", b, ok)
	}
	merged := (&File{Builds: []Build{{"web", "r.test/web:v0"}, {"db", "r.test/db:1"}}}).Merge(f)
	if b, _ := merged.Lookup("web"); b.Tag != "r.test/web:v1" {
		t.Errorf("merge keeps %q for web, want the override", b.Tag)
	}
	if _, ok := merged.Lookup("db"); !ok || len(merged.Builds) != 3 {
		t.Errorf("merge lost a build: %v", merged.Builds)
	}
	if _, err := ParseImages([]string{"web="}); err == nil {
		t.Error("an empty tag was accepted")
	}
}

package ko

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestListInputs(t *testing.T) {
	t.Parallel()
	dir, err := filepath.Abs(filepath.Join("testdata", "hello"))
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"ko://example.com/hello/cmd/hello", "./cmd/hello", "example.com/hello/cmd/hello"} {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			in, err := ListInputs(context.Background(), dir, target)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{
				filepath.Join(dir, "cmd/hello/main.go"),
				filepath.Join(dir, "go.mod"),
				filepath.Join(dir, "go.sum"),
				filepath.Join(dir, "internal/greet/greet.go"),
			}
			if diff := cmp.Diff(want, in.Files); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			wantDirs := []string{filepath.Join(dir, "cmd/hello"), filepath.Join(dir, "internal/greet")}
			if diff := cmp.Diff(wantDirs, in.Packages); diff != "" {
				t.Errorf("package dirs (-want +got):\n%s", diff)
			}
			if in.Module != dir || in.KoData != filepath.Join(dir, "cmd/hello/kodata") {
				t.Errorf("module %s, kodata %s", in.Module, in.KoData)
			}
		})
	}
}

func TestListInputsErrors(t *testing.T) {
	t.Parallel()
	dir, _ := filepath.Abs(filepath.Join("testdata", "hello"))
	if _, err := ListInputs(context.Background(), dir, "./cmd/missing"); err == nil {
		t.Error("a missing package listed without error")
	}
	if _, err := ListInputs(context.Background(), t.TempDir(), "."); err == nil {
		t.Error("a directory outside any module listed without error")
	}
}

func TestQualify(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("testdata", "hello")
	for _, tc := range []struct{ target, want string }{
		{"ko://example.com/hello/cmd/hello", "ko://example.com/hello/cmd/hello"},
		{"./cmd/hello", "ko://example.com/hello/cmd/hello"},
		{"./internal/greet", "ko://example.com/hello/internal/greet"},
	} {
		got, err := Qualify(dir, tc.target)
		if err != nil || got != tc.want {
			t.Errorf("Qualify(%s) = %q, %v; want %q", tc.target, got, err, tc.want)
		}
	}
	if _, err := Qualify(dir, "./..."); err == nil {
		t.Error("a pattern with several packages qualified without error")
	}
}

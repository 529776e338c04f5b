package dockerfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/moby/patternmatcher/ignorefile"
)

// IgnorePatterns reads the ignore file for a build: <Dockerfile>.dockerignore
// next to the Dockerfile if it exists, else .dockerignore at the context
// root. It returns the patterns and the file they came from ("" if none).
func IgnorePatterns(contextDir, dockerfile string) ([]string, string, error) {
	for _, p := range []string{dockerfile + ".dockerignore", filepath.Join(contextDir, ".dockerignore")} {
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("reading %s: %w", p, err)
		}
		pats, err := ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, "", fmt.Errorf("reading %s: %w", p, err)
		}
		return pats, p, nil
	}
	return nil, "", nil
}

package hostile

import (
	"testing"

	"github.com/skiff-dev/skiff/internal/testenv"
)

// TestCorpusRoot builds the whole corpus with the skiff binary as root
// (root isolation, picked by auto).
func TestCorpusRoot(t *testing.T) {
	testenv.RequireRoot(t, "root isolation")
	Run(t, Mode{Name: "root", Build: SkiffBuild(Invocation{CacheDir: t.TempDir()})})
}

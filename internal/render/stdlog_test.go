package render

import (
	"bytes"
	"context"
	"log"
	"strings"
	"testing"
)

// TestHelmLibraryWarnings: a value that replaces one of the chart's tables
// makes Helm's coalescing log.Printf "warning: skipped value …". It must come
// back as a render warning naming the release, not reach the process's log
// output with a Go timestamp.
func TestHelmLibraryWarnings(t *testing.T) {
	var stray bytes.Buffer
	prev := log.Writer()
	log.SetOutput(&stray)
	defer log.SetOutput(prev)

	rel := HelmRelease{Name: "web", ChartPath: "testdata/charts/tables", SetValues: map[string]string{"logging.level": "debug"}}
	res, err := Render(context.Background(), Options{Helm: []HelmRelease{rel}, DigestSource: DigestNone})
	if err != nil {
		t.Fatal(err)
	}
	if stray.Len() > 0 {
		t.Errorf("helm wrote to the standard logger: %q", stray.String())
	}
	var found bool
	for _, w := range res.Warnings {
		if strings.HasPrefix(w, "helm release web: ") && strings.Contains(w, "logging") && !strings.Contains(w, "warning:") {
			found = true
		}
	}
	t.Logf("warnings: %q", res.Warnings)
	if !found {
		t.Errorf("warnings %q: want Helm's coalescing warning about logging, attributed to the release", res.Warnings)
	}
	if log.Writer() != &stray {
		t.Error("the standard logger's output was not restored")
	}
}

package ciyaml

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

func TestEncode(t *testing.T) {
	m := NewMap().
		Set("b", "first key stays first").
		Set("a", NewMap().Set("on", "true").Set("n", "3").Set("empty", "").Set("flag", false)).
		SetIf("skipped", "").
		SetIf("skipped too", []string{}).
		Set("needs", Flow("x", "build:review")).
		Set("list", Seq("$A == \"b\""))
	got, err := Encode(m, "line one\n  indented")
	if err != nil {
		t.Fatal(err)
	}
	want := `# line one
#   indented
b: first key stays first

a:
  on: "true"
  n: "3"
  empty: ""
  flag: false

needs: [x, 'build:review']

list:
  - $A == "b"
`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("Encode (-want +got):\n%s", diff)
	}
	var back map[string]any
	if err := yaml.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	if a := back["a"].(map[string]any); a["on"] != "true" || a["n"] != "3" {
		t.Errorf("strings that look like other types must stay strings: %v", a)
	}
}

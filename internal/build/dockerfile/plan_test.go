package dockerfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// summary is what tests compare: per stage "name from fromStage needed uses images".
type summary struct {
	Name      string
	From      string
	FromStage int
	Needed    bool
	Uses      []int
	Images    []string
	Commands  int
}

func summarize(p *Plan) []summary {
	var out []summary
	for _, s := range p.Stages {
		out = append(out, summary{s.Name, s.From, s.FromStage, s.Needed, s.Uses, s.Images, len(s.Commands)})
	}
	return out
}

func TestParse(t *testing.T) {
	tests := []struct {
		name       string
		dockerfile string
		opts       Options
		want       []summary
		target     int
		unused     []string
	}{{
		name: "multi-stage with an unused stage",
		dockerfile: `FROM golang:1.26 AS build
RUN go build -o /app .
FROM debian AS unused
RUN echo never
FROM scratch
COPY --from=build /app /app
ENTRYPOINT ["/app"]
`,
		want: []summary{
			{"build", "golang:1.26", -1, true, nil, nil, 1},
			{"unused", "debian", -1, false, nil, nil, 1},
			{"", "scratch", -1, true, []int{0}, nil, 2},
		},
		target: 2,
	}, {
		name: "target and stage bases",
		dockerfile: `FROM alpine AS base
FROM base AS test
RUN make test
FROM base AS release
`,
		opts: Options{Target: "TEST"},
		want: []summary{
			{"base", "alpine", -1, true, nil, nil, 0},
			{"test", "base", 0, true, nil, nil, 1},
			{"release", "base", 0, false, nil, nil, 0},
		},
		target: 1,
	}, {
		name: "global args and build args",
		dockerfile: `ARG REG=registry.example
ARG TAG
ARG IMG=${REG}/base:${TAG:-latest}
FROM $IMG
FROM ${REG}/other:$TARGETARCH
`,
		opts: Options{BuildArgs: map[string]string{"TAG": "1.2", "NOPE": "x"}},
		want: []summary{
			{"", "registry.example/base:1.2", -1, false, nil, nil, 0},
			{"", "registry.example/other:amd64", -1, true, nil, nil, 0},
		},
		target: 1,
		unused: []string{"NOPE"},
	}, {
		name: "copy and mount sources",
		dockerfile: `FROM busybox
FROM busybox AS deps
FROM busybox
COPY --from=0 /a /a
COPY --from=deps /b /b
COPY --from=registry.example/tools:1 /c /c
RUN --mount=type=cache,target=/cache --mount=type=bind,from=deps,target=/deps true
`,
		want: []summary{
			{"", "busybox", -1, true, nil, nil, 0},
			{"deps", "busybox", -1, true, nil, nil, 0},
			{"", "busybox", -1, true, []int{0, 1}, []string{"registry.example/tools:1"}, 4},
		},
		target: 2,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("Dockerfile", []byte(tt.dockerfile), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, summarize(p)); diff != "" {
				t.Errorf("stages (-want +got):\n%s", diff)
			}
			if p.Target != tt.target {
				t.Errorf("target = %d, want %d", p.Target, tt.target)
			}
			if diff := cmp.Diff(tt.unused, p.UnusedBuildArgs); diff != "" {
				t.Errorf("unused build args (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, dockerfile string
		opts             Options
		want             string
		line             int
	}{
		{"empty", "  \n", Options{}, "Dockerfile: the Dockerfile is empty", 0},
		{"no from", "# comment\nRUN true\n", Options{}, "no build stage", 2},
		{"unknown instruction", "FROM a\nRUN x\nFRUM b\n", Options{}, "Dockerfile:3: unknown instruction: FRUM", 3},
		{"missing argument", "FROM a\n\nCOPY onlyone\n", Options{}, "Dockerfile:3: COPY requires at least two arguments", 3},
		{"bad flag", "FROM a\nRUN --bogus=1 true\n", Options{}, "Dockerfile:2: unknown flag: --bogus", 2},
		{"bad json continuation", "FROM a\nRUN echo \\\n", Options{}, "", 0},
		{"blank base", "ARG X\nFROM $X\n", Options{}, "Dockerfile:2: base name ($X) should not be blank", 2},
		{"platform", "FROM --platform=linux/arm64 a\n", Options{}, `Dockerfile:1: platform "linux/arm64" is not supported`, 1},
		{"target", "FROM a AS one\nFROM b AS two\n", Options{Target: "three"}, `target stage "three" not found (stages: one, two)`, 0},
		{"forward from", "FROM a\nCOPY --from=later /x /x\nFROM b AS later\n", Options{}, "Dockerfile:2: --from=later: stage later must be defined before", 2},
		{"self from", "FROM a AS me\nCOPY --from=me /x /x\n", Options{}, "Dockerfile:2: --from=me: stage me must be defined", 2},
		{"index from", "FROM a\nCOPY --from=1 /x /x\n", Options{}, "Dockerfile:2: --from=1: stage 1 must be defined", 2},
		{"variable from", "FROM a\nCOPY --from=$X /x /x\n", Options{}, "Dockerfile:2: variable expansion is not supported", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("Dockerfile", []byte(tt.dockerfile), tt.opts)
			if err == nil {
				if tt.want == "" {
					return // accepted, as Docker does
				}
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("err is %T, want *Error", err)
			}
			if de.Line != tt.line {
				t.Errorf("line = %d, want %d", de.Line, tt.line)
			}
		})
	}
}

func TestIgnorePatterns(t *testing.T) {
	dir := t.TempDir()
	df := filepath.Join(dir, "build", "app.Dockerfile")
	os.MkdirAll(filepath.Dir(df), 0o755)
	os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte("# c\n*.secret\n!keep.secret\n"), 0o644)
	pats, src, err := IgnorePatterns(dir, df)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"*.secret", "!keep.secret"}, pats); diff != "" || src != filepath.Join(dir, ".dockerignore") {
		t.Errorf("context .dockerignore: %s %s", diff, src)
	}
	os.WriteFile(df+".dockerignore", []byte("**/*.log\n"), 0o644)
	pats, src, err = IgnorePatterns(dir, df)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"**/*.log"}, pats); diff != "" || src != df+".dockerignore" {
		t.Errorf("Dockerfile-specific ignore file wins: %s %s", diff, src)
	}
}

func TestEnv(t *testing.T) {
	e := Env{}.With("A", "1").With("B", "2").With("A", "3")
	if diff := cmp.Diff([]string{"A=3", "B=2"}, e.List()); diff != "" {
		t.Error(diff)
	}
	if v, ok := FromList([]string{"PATH=/bin", "X=a=b"}).Get("X"); !ok || v != "a=b" {
		t.Errorf("X = %q %v", v, ok)
	}
}

package dockerfile

import (
	"errors"
	"testing"
)

func FuzzParse(f *testing.F) {
	seeds := []string{
		"FROM golang AS build\nRUN go build\nFROM scratch\nCOPY --from=build /app /app\n",
		"ARG B=busybox\nFROM $B AS a\nFROM a\nCOPY --from=0 /x /y\nRUN --mount=type=bind,from=a,target=/a true\n",
		"# escape=`\nFROM a\nRUN echo `\n  hi\n",
		"FROM a\nRUN <<EOF\necho hi\nEOF\nCOPY <<EOT /f\ncontent\nEOT\n",
		"FROM --platform=$BUILDPLATFORM a AS x\nONBUILD RUN true\nHEALTHCHECK --interval=5s CMD true\n",
		"ARG X\nFROM ${X:-scratch}\nENV A=1 B=\"two words\"\nLABEL a=b\nEXPOSE 80/tcp\nUSER 1:1\n",
		"FROM a\nCOPY --from=later /x /x\nFROM b AS later\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s), "")
		f.Add([]byte(s), "a")
	}
	f.Fuzz(func(t *testing.T, data []byte, target string) {
		p, err := Parse("Dockerfile", data, Options{Target: target, BuildArgs: map[string]string{"X": "busybox"}})
		if err != nil {
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("error %v is %T, not *Error", err, err)
			}
			return
		}
		if p.Target < 0 || p.Target >= len(p.Stages) || !p.Stages[p.Target].Needed {
			t.Fatalf("target %d invalid among %d stages", p.Target, len(p.Stages))
		}
		for i, s := range p.Stages {
			if s.Index != i || s.From == "" {
				t.Fatalf("stage %d: index %d from %q", i, s.Index, s.From)
			}
			deps := append([]int{}, s.Uses...)
			if s.FromStage >= 0 {
				deps = append(deps, s.FromStage)
			}
			for _, d := range deps {
				if d < 0 || d >= i {
					t.Fatalf("stage %d depends on stage %d, which is not earlier", i, d)
				}
				if s.Needed && !p.Stages[d].Needed {
					t.Fatalf("stage %d is needed but its dependency %d is not", i, d)
				}
			}
		}
	})
}

package render

import (
	"bytes"
	"log"
	"strings"
	"sync"
)

// stdlogMu serialises every capture of the standard library's logger: Helm
// and kustomize write their warnings with log.Printf (Helm's coalescing:
// "warning: skipped value for …"), which would otherwise reach stderr with a
// Go timestamp, outside skiff's own output.
var stdlogMu sync.Mutex

// captureStdLog runs fn with the standard logger writing into a buffer, and
// returns fn's result and the lines logged, without log's timestamps.
// Nothing but the log package's output is redirected.
func captureStdLog[T any](fn func() (T, error)) (T, []string, error) {
	stdlogMu.Lock()
	defer stdlogMu.Unlock()
	var buf bytes.Buffer
	prevOut, prevFlags, prevPrefix := log.Writer(), log.Flags(), log.Prefix()
	log.SetOutput(&buf)
	log.SetFlags(0)
	log.SetPrefix("")
	v, err := fn()
	log.SetOutput(prevOut)
	log.SetFlags(prevFlags)
	log.SetPrefix(prevPrefix)
	return v, logLines(buf.String()), err
}

// logLines splits captured log output into distinct messages, dropping the
// "warning:" Helm puts in front (the caller reports them as warnings).
func logLines(s string) []string {
	var out []string
	seen := map[string]bool{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		for _, p := range []string{"warning:", "Warning:", "WARNING:", "WARN"} {
			if rest, ok := strings.CutPrefix(line, p); ok {
				line = strings.TrimSpace(rest)
				break
			}
		}
		if line == "" || seen[line] {
			continue
		}
		seen[line] = true
		out = append(out, line)
	}
	return out
}

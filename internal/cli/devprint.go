package cli

import (
	"fmt"
	"hash/fnv"
	"io"
	"strings"
	"time"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/dev"
)

// devPrinter prints a dev session's events: the pods' logs on stdout (the
// session's output, which `skiff dev | grep` filters), everything about
// the loop on stderr.
type devPrinter struct {
	out, err  io.Writer
	namespace string
	color     bool
}

func newDevPrinter(s Streams, namespace string) *devPrinter {
	return &devPrinter{out: s.Out, err: s.Err, namespace: namespace, color: colorEnabled(s.Out)}
}

// logColors are the prefix colours of pods' log lines (ANSI 31–36, bright
// variants 91–96), picked by the pod's name so a pod keeps its colour.
var logColors = []int{32, 33, 34, 35, 36, 92, 93, 94, 95, 96, 31, 91}

func (p *devPrinter) prefix(l *dev.LogLine) string {
	name := l.Pod + "/" + l.Container
	if l.Namespace != p.namespace {
		name = l.Namespace + "/" + name
	}
	if !p.color {
		return "[" + name + "]"
	}
	h := fnv.New32a()
	h.Write([]byte(l.Namespace + "/" + l.Pod))
	return fmt.Sprintf("\x1b[%dm[%s]\x1b[0m", logColors[h.Sum32()%uint32(len(logColors))], name)
}

func (p *devPrinter) event(e dev.Event) {
	w := p.err
	switch e.Kind {
	case dev.Log:
		fmt.Fprintf(p.out, "%s %s\n", p.prefix(e.Line), e.Line.Text)
	case dev.Phase, dev.Pending:
		fmt.Fprintln(w, e.Message)
	case dev.Warning:
		fmt.Fprintf(w, "warning: %s\n", e.Message)
	case dev.Watching:
		fmt.Fprintf(w, "Watching for changes (%s); Ctrl-C to stop\n", e.Message)
	case dev.ChangesSeen:
		fmt.Fprintf(w, "Changed: %s; %s\n", fileList(e.Files), planSummary(e.Plan))
	case dev.Built:
		var names []string
		for _, b := range e.Builds {
			names = append(names, b.ImageName)
		}
		fmt.Fprintf(w, "Build complete: %s in %s\n", strings.Join(names, ", "), round(e.Duration))
	case dev.BuildFailed:
		fmt.Fprintf(w, "Build failed: %s\nFix it and save: skiff dev keeps watching.\n", oneLine(e.Err.Error()))
	case dev.Deployed:
		printChangedOnly(w, e.Changes)
		fmt.Fprintf(w, "Deploy complete in %s: %s\n", round(e.Duration), summary(e.Changes))
	case dev.DeployFailed:
		printChangedOnly(w, e.Changes)
		fmt.Fprintf(w, "Deploy failed: %s\nskiff dev keeps watching.\n", oneLine(e.Err.Error()))
	case dev.Synced:
		s := e.Sync
		files := plural(s.Copied, "file")
		if s.Deleted > 0 {
			files += fmt.Sprintf(", deleted %s", plural(s.Deleted, "file"))
		}
		fmt.Fprintf(w, "Synced %s to %s in %s (%s)\n", files, s.Image, round(e.Duration), strings.Join(s.Containers, ", "))
	case dev.SyncFailed:
		fmt.Fprintf(w, "Sync failed: %s\n", oneLine(e.Err.Error()))
	case dev.Forwarding:
		f := e.Forward
		fmt.Fprintf(w, "Port forwarding %s port %s (namespace %s) on %s\n", f.Resource, f.Port, f.Namespace, f.Local)
	case dev.ForwardFailed:
		fmt.Fprintf(w, "warning: port forward: %s\n", oneLine(e.Err.Error()))
	case dev.CleanedUp:
		printChangedOnly(w, e.Changes)
		if e.Err != nil {
			fmt.Fprintf(w, "Cleanup failed after %s: %s\n", round(e.Duration), oneLine(e.Err.Error()))
			return
		}
		fmt.Fprintf(w, "Cleanup complete in %s\n", round(e.Duration))
	}
}

// printChangedOnly lists the objects an apply or delete touched.
func printChangedOnly(w io.Writer, changes []apply.Change) {
	for _, c := range changes {
		if c.Action != apply.Unchanged {
			line := fmt.Sprintf("  %s %s", c.Object, c.Action)
			if c.Reason != "" {
				line += " (" + c.Reason + ")"
			}
			fmt.Fprintln(w, line)
		}
	}
}

func planSummary(p *dev.Plan) string {
	var parts []string
	if p.Reload {
		parts = append(parts, "reloading the configuration")
	}
	for _, s := range p.Sync {
		parts = append(parts, "syncing "+s.Image)
	}
	if len(p.Rebuild) > 0 {
		parts = append(parts, "rebuilding "+strings.Join(p.Rebuild, ", "))
	}
	if p.Redeploy {
		parts = append(parts, "redeploying")
	}
	return strings.Join(parts, ", ")
}

func fileList(files []string) string {
	const show = 3
	if len(files) <= show {
		return strings.Join(files, ", ")
	}
	return fmt.Sprintf("%s (and %d more)", strings.Join(files[:show], ", "), len(files)-show)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func round(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

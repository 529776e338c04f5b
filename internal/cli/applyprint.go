package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/skiff-dev/skiff/internal/apply"
)

func printApplyResult(w io.Writer, format string, opts apply.Options, res *apply.Result) error {
	if format == "json" {
		return writeJSON(w, resultJSON(opts, res))
	}
	printChanges(w, res.Changes)
	if res.Revision > 0 {
		fmt.Fprintf(w, "%s revision %d in namespace %s: %s\n", opts.App, res.Revision, opts.Namespace, summary(res.Changes))
	}
	if rb := res.RolledBack; rb != nil {
		fmt.Fprintf(w, "rollback:\n")
		printChanges(w, rb.Changes)
		if rb.Revision > 0 {
			fmt.Fprintf(w, "%s revision %d in namespace %s: %s\n", opts.App, rb.Revision, opts.Namespace, summary(rb.Changes))
		}
	}
	return nil
}

func printChanges(w io.Writer, changes []apply.Change) {
	for _, c := range changes {
		line := fmt.Sprintf("%s %s", c.Object, c.Action)
		if c.Reason != "" {
			line += " (" + c.Reason + ")"
		}
		fmt.Fprintln(w, line)
	}
}

func summary(changes []apply.Change) string {
	counts := map[apply.Action]int{}
	for _, c := range changes {
		counts[c.Action]++
	}
	var parts []string
	for _, a := range []apply.Action{apply.Created, apply.Configured, apply.Unchanged, apply.Pruned, apply.Deleted, apply.Skipped} {
		if counts[a] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[a], a))
		}
	}
	if len(parts) == 0 {
		return "no changes"
	}
	return strings.Join(parts, ", ")
}

type changeJSON struct {
	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Action    string `json:"action"`
	Reason    string `json:"reason,omitempty"`
	Origin    string `json:"origin,omitempty"`
}

type statusJSON struct {
	Object  string `json:"object"`
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

type applyJSON struct {
	App        string       `json:"app"`
	Namespace  string       `json:"namespace"`
	Revision   int          `json:"revision,omitempty"`
	Changes    []changeJSON `json:"changes"`
	Statuses   []statusJSON `json:"statuses,omitempty"`
	RolledBack *applyJSON   `json:"rolledBack,omitempty"`
}

func resultJSON(opts apply.Options, res *apply.Result) *applyJSON {
	out := &applyJSON{App: opts.App, Namespace: opts.Namespace, Revision: res.Revision, Changes: changesJSON(res.Changes)}
	for _, s := range res.Statuses {
		out.Statuses = append(out.Statuses, statusJSON{Object: s.Ref.String(), Status: string(s.Result.Status), Message: s.Result.Message})
	}
	if res.RolledBack != nil {
		out.RolledBack = resultJSON(opts, res.RolledBack)
	}
	return out
}

func changesJSON(changes []apply.Change) []changeJSON {
	out := []changeJSON{}
	for _, c := range changes {
		out = append(out, changeJSON{
			Group: c.Object.Group, Kind: c.Object.Kind, Namespace: c.Object.Namespace, Name: c.Object.Name,
			Action: string(c.Action), Reason: c.Reason, Origin: c.Origin.String(),
		})
	}
	return out
}

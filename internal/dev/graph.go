package dev

import (
	"context"
	"fmt"
	"sort"

	"github.com/skiff-dev/skiff/internal/config"
)

// Graph is what the loop knows about the project's files: each artifact's
// inputs and sync rules, the manifests and the configuration files.
type Graph struct {
	Artifacts []*Node
	Manifests FileSet
	Config    FileSet
	// Warnings say where inputs are known only approximately (a Dockerfile
	// that does not parse: its whole context is watched until it does).
	Warnings []string
	// defs are the files that decide what the inputs are: Dockerfiles,
	// ignore files, kustomizations.
	defs map[string]bool
}

// Node is one artifact in the graph.
type Node struct {
	Artifact *config.Artifact
	Inputs   FileSet
	sync     *syncRules
	// dependents are the images that require this one.
	dependents []string
}

// Image is the artifact's image name.
func (n *Node) Image() string { return n.Artifact.ImageName }

// NewGraph computes the graph of p's files.
func NewGraph(ctx context.Context, p *config.Project) *Graph {
	g := &Graph{Config: configInputs(p), defs: map[string]bool{}}
	var kustomizations []string
	g.Manifests, kustomizations = manifestInputs(p)
	for _, k := range kustomizations {
		g.defs[k] = true
	}
	byImage := map[string]*Node{}
	for _, a := range p.Artifacts() {
		n := &Node{Artifact: a}
		var err error
		if n.Inputs, err = artifactInputs(ctx, p.WorkDir, a); err != nil {
			g.Warnings = append(g.Warnings, fmt.Sprintf("watching all of %s's context until its inputs are known: %v", a.ImageName, err))
		}
		if n.sync, err = newSyncRules(p.WorkDir, a); err != nil {
			g.Warnings = append(g.Warnings, a.ImageName+": sync.infer: "+err.Error())
		}
		if b, ok := dockerBuildOf(p.WorkDir, a); ok {
			g.defs[b.dockerfile] = true
			for _, f := range b.ignoreFiles() {
				g.defs[f] = true
			}
		}
		g.Artifacts = append(g.Artifacts, n)
		byImage[a.ImageName] = n
	}
	for _, n := range g.Artifacts {
		for _, d := range n.Artifact.Dependencies {
			if dep, ok := byImage[d.ImageName]; ok {
				dep.dependents = append(dep.dependents, n.Image())
			}
		}
	}
	return g
}

// Roots are the directories to watch.
func (g *Graph) Roots() []WatchRoot {
	var roots []WatchRoot
	for _, n := range g.Artifacts {
		roots = append(roots, n.Inputs.Roots()...)
		if n.sync != nil {
			roots = append(roots, n.sync.roots()...)
		}
	}
	roots = append(roots, g.Manifests.Roots()...)
	roots = append(roots, g.Config.Roots()...)
	return roots
}

// Change is a file that changed on disk.
type Change struct {
	Path string
	// Removed is true when the file no longer exists.
	Removed bool
}

// Plan is what the loop does about a batch of changes.
type Plan struct {
	// Changed are the changed files that matter, sorted.
	Changed []string
	// Reload: the configuration changed.
	Reload bool
	// Rebuild are the images to rebuild, with their dependents, in
	// configuration order.
	Rebuild []string
	// Sync are the artifacts whose changed files are all covered by sync
	// rules and are not rebuilt.
	Sync []SyncPlan
	// Redeploy: the manifests changed (Manifests), or an image is rebuilt.
	Redeploy  bool
	Manifests bool
}

// Empty reports whether nothing is to be done.
func (p *Plan) Empty() bool {
	return !p.Reload && !p.Redeploy && len(p.Rebuild) == 0 && len(p.Sync) == 0
}

// SyncPlan copies and deletes files in the containers of one artifact.
type SyncPlan struct {
	Image  string
	Copy   []FileCopy
	Delete []string // container paths
	// Removed are the local files whose removal made Delete (what sync
	// hooks see as SKAFFOLD_FILES_DELETED).
	Removed []string
}

// FileCopy is a local file and its path in the container.
type FileCopy struct {
	Local, Dest string
}

// Decide maps a batch of changes to actions: a change to the configuration
// reloads it; an artifact whose changed files all have sync destinations is
// synced, any other change to its inputs rebuilds it and what requires it;
// a change to the manifests, or a rebuild, redeploys.
func (g *Graph) Decide(changes []Change) Plan {
	var plan Plan
	type hit struct {
		change Change
		dests  []string
	}
	hits := map[*Node][]hit{}
	for _, c := range changes {
		relevant := false
		if g.Config.Contains(c.Path) {
			plan.Reload, relevant = true, true
		}
		if g.Manifests.Contains(c.Path) {
			plan.Redeploy, plan.Manifests, relevant = true, true, true
		}
		for _, n := range g.Artifacts {
			dests := n.sync.destinations(c.Path)
			if len(dests) > 0 || n.Inputs.Contains(c.Path) {
				hits[n] = append(hits[n], hit{c, dests})
				relevant = true
			}
		}
		if relevant {
			plan.Changed = append(plan.Changed, c.Path)
		}
	}
	sort.Strings(plan.Changed)
	plan.Changed = dedupe(plan.Changed)

	rebuild := map[string]bool{}
	var mark func(image string)
	mark = func(image string) {
		if rebuild[image] {
			return
		}
		rebuild[image] = true
		for _, n := range g.Artifacts {
			if n.Image() == image {
				for _, d := range n.dependents {
					mark(d)
				}
			}
		}
	}
	for _, n := range g.Artifacts {
		for _, h := range hits[n] {
			if len(h.dests) == 0 {
				mark(n.Image())
				break
			}
		}
	}
	for _, n := range g.Artifacts {
		if rebuild[n.Image()] {
			plan.Rebuild = append(plan.Rebuild, n.Image())
			continue
		}
		if len(hits[n]) == 0 {
			continue
		}
		sp := SyncPlan{Image: n.Image()}
		for _, h := range hits[n] {
			if h.change.Removed {
				sp.Removed = append(sp.Removed, h.change.Path)
			}
			for _, d := range h.dests {
				if h.change.Removed {
					sp.Delete = append(sp.Delete, d)
				} else {
					sp.Copy = append(sp.Copy, FileCopy{Local: h.change.Path, Dest: d})
				}
			}
		}
		plan.Sync = append(plan.Sync, sp)
	}
	if len(plan.Rebuild) > 0 {
		plan.Redeploy = true
	}
	return plan
}

// Node returns the node of image, or nil.
func (g *Graph) Node(image string) *Node {
	for _, n := range g.Artifacts {
		if n.Image() == image {
			return n
		}
	}
	return nil
}

// definesInputs reports whether a changed file decides what the inputs
// are, so that the graph must be computed again.
func (g *Graph) definesInputs(changed []string) bool {
	for _, p := range changed {
		if g.defs[p] {
			return true
		}
		for _, n := range g.Artifacts {
			if definesGoInputs(n, p) {
				return true
			}
		}
	}
	return false
}

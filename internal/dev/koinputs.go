package dev

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/moby/patternmatcher"

	"github.com/skiff-dev/skiff/internal/build"
	"github.com/skiff-dev/skiff/internal/build/dockerfile"
	"github.com/skiff-dev/skiff/internal/build/ko"
	"github.com/skiff-dev/skiff/internal/config"
)

// koInputs are the files a ko artifact's build reads. With
// ko.dependencies.paths they are those paths (relative to the context,
// minus ignore), as in Skaffold. Without, skiff is narrower than
// Skaffold's **/*.go: the Go files of the packages of the module that the
// main package imports, directly or not, the module's go.mod and go.sum,
// and the main package's kodata, so that editing a package the program
// does not use rebuilds nothing. When the packages cannot be listed (a
// file that does not parse), every Go file of the context is watched and
// the error says why.
func koInputs(ctx context.Context, workDir string, a *config.Artifact) (FileSet, error) {
	ws := absPath(workDir, a.Workspace)
	if d := a.KoArtifact.Dependencies; d != nil && len(d.Paths) > 0 {
		pm, err := newMatcher(d.Ignore)
		if err != nil {
			return FileSet{Trees: []Tree{{Dir: ws, Base: ws}}}, err
		}
		var patterns []string
		for _, p := range d.Paths {
			if s, ok := dockerfile.CleanSource(filepath.ToSlash(p)); ok {
				patterns = append(patterns, s)
			}
		}
		return sourceSet(ws, patterns, pm), nil
	}
	spec, _ := build.KoSpec(a)
	dir := absPath(workDir, spec.Dir)
	in, err := ko.ListInputs(ctx, dir, spec.ImportPath)
	if err != nil {
		return FileSet{
			Trees: []Tree{{Dir: ws, Base: ws, Include: []string{"**/*.go", "**/go.mod", "**/go.sum", "**/kodata/**"}}},
		}, err
	}
	// The Go files a build never reads.
	testFiles, err := patternmatcher.New([]string{"*_test.go"})
	if err != nil {
		return FileSet{}, err
	}
	set := FileSet{Files: in.Files}
	for _, d := range in.Packages {
		// A new file in a package the program uses is an input too; its
		// tests are not.
		set.Trees = append(set.Trees, Tree{Dir: d, Base: d, Include: []string{"*.go"}, Ignore: testFiles})
	}
	if in.KoData != "" {
		set.Trees = append(set.Trees, Tree{Dir: in.KoData, Base: in.KoData})
	}
	return set, nil
}

// koListsInputs reports whether the inputs of a are the Go packages it
// imports, which any Go file or go.mod among them can change.
func koListsInputs(a *config.Artifact) bool {
	k := a.KoArtifact
	return k != nil && (k.Dependencies == nil || len(k.Dependencies.Paths) == 0)
}

// definesGoInputs: a changed Go source or go.mod of a ko artifact whose
// inputs are its imports can change what it imports.
func definesGoInputs(n *Node, p string) bool {
	if !koListsInputs(n.Artifact) || !(strings.HasSuffix(p, ".go") || filepath.Base(p) == "go.mod") {
		return false
	}
	return n.Inputs.Contains(p)
}

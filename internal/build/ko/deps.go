package ko

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/tools/go/packages"
)

// Inputs are the files a ko build of one main package reads from its own
// module: the source files of the main package and of every package it
// imports from the module (directly or not), the module's go.mod and
// go.sum, and the main package's kodata directory, which ko copies into
// the image. Packages of other modules are left out: they change only
// through go.mod.
type Inputs struct {
	// Module is the module's root directory.
	Module string
	// Packages are the directories of the module's packages in the build.
	Packages []string
	// Files are the source files of those packages (Go, cgo, embedded) and
	// go.mod and go.sum; all absolute.
	Files []string
	// KoData is the main package's kodata directory (it may not exist).
	KoData string
}

// ListInputs loads importPath (with or without Scheme, or relative to dir)
// and its imports with the go tool, as `go list -deps` would.
func ListInputs(ctx context.Context, dir, importPath string) (Inputs, error) {
	root, err := moduleRoot(dir)
	if err != nil {
		return Inputs{}, err
	}
	target := strings.TrimPrefix(importPath, Scheme)
	if target == "" {
		target = "."
	}
	cfg := &packages.Config{
		Context: ctx,
		Dir:     dir,
		Mode:    packages.NeedName | packages.NeedFiles | packages.NeedEmbedFiles | packages.NeedImports | packages.NeedDeps | packages.NeedModule,
		Env:     append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64"),
	}
	pkgs, err := packages.Load(cfg, target)
	if err != nil {
		return Inputs{}, fmt.Errorf("listing the packages of %s: %w", target, err)
	}
	if len(pkgs) != 1 {
		return Inputs{}, fmt.Errorf("listing the packages of %s in %s: want one main package, found %d", target, dir, len(pkgs))
	}
	main := pkgs[0]
	if len(main.Errors) > 0 {
		return Inputs{}, fmt.Errorf("listing the packages of %s: %v", target, main.Errors[0])
	}
	in := Inputs{Module: root}
	if main.Module != nil && main.Module.Dir != "" {
		in.Module = main.Module.Dir
	}
	modPath := ""
	if main.Module != nil {
		modPath = main.Module.Path
	}
	files := map[string]bool{}
	dirs := map[string]bool{}
	packages.Visit(pkgs, nil, func(p *packages.Package) {
		if p.Module == nil || p.Module.Path != modPath {
			return
		}
		for _, list := range [][]string{p.GoFiles, p.OtherFiles, p.EmbedFiles} {
			for _, f := range list {
				files[f] = true
				dirs[filepath.Dir(f)] = true
			}
		}
	})
	if len(main.GoFiles) > 0 {
		in.KoData = filepath.Join(filepath.Dir(main.GoFiles[0]), "kodata")
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		files[filepath.Join(in.Module, f)] = true
	}
	for f := range files {
		in.Files = append(in.Files, f)
	}
	for d := range dirs {
		in.Packages = append(in.Packages, d)
	}
	sort.Strings(in.Files)
	sort.Strings(in.Packages)
	return in, nil
}

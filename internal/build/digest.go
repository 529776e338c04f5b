package build

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/moby/patternmatcher"

	"github.com/skiff-dev/skiff/internal/build/cache"
	"github.com/skiff-dev/skiff/internal/build/dockerfile"
	"github.com/skiff-dev/skiff/internal/config"
)

// inputDigest is the inputDigest tag policy: a sha256 over what the build
// reads — the artifact's build settings, its Dockerfile and every file of
// its context that .dockerignore does not exclude (path, mode, content).
func inputDigest(ctx context.Context, a *config.Artifact) (string, error) {
	kb := cache.NewKey("inputDigest")
	var patterns []string
	if spec, ok := Spec(a); ok && a.CustomArtifact == nil {
		b, err := os.ReadFile(spec.Dockerfile)
		if err != nil {
			return "", fmt.Errorf("inputDigest: %w", err)
		}
		// The build args exactly as the builder will see them.
		kb.String("dockerfile", string(b)).String("target", spec.Target).Map("buildArgs", spec.BuildArgs)
		if patterns, _, err = dockerfile.IgnorePatterns(spec.ContextDir, spec.Dockerfile); err != nil {
			return "", err
		}
	} else if a.CustomArtifact != nil {
		kb.String("buildCommand", a.CustomArtifact.BuildCommand)
		if d := a.CustomArtifact.Dependencies; d != nil {
			patterns = d.Ignore
		}
	}
	var pm *patternmatcher.PatternMatcher
	if len(patterns) > 0 {
		var err error
		if pm, err = patternmatcher.New(patterns); err != nil {
			return "", err
		}
	}
	root := a.Workspace
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if pm != nil {
			if m, _ := pm.MatchesOrParentMatches(rel); m {
				if d.IsDir() && !pm.Exclusions() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		if d.Type().IsRegular() || d.Type()&fs.ModeSymlink != 0 {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("inputDigest: %w", err)
	}
	sort.Strings(files)
	for _, rel := range files {
		p := filepath.Join(root, filepath.FromSlash(rel))
		fi, err := os.Lstat(p)
		if err != nil {
			return "", err
		}
		content := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			content, _ = os.Readlink(p)
		} else {
			h, err := fileSHA(p)
			if err != nil {
				return "", err
			}
			content = h
		}
		kb.Strings("file", []string{rel, fi.Mode().String(), content})
	}
	return kb.Sum().String(), nil
}

func fileSHA(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

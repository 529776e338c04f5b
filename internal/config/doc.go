// Package config loads skiff's configuration: Skaffold's skaffold/v3* and
// skaffold/v4beta* files unchanged, and skiff/v1 files that add environments,
// releases and pipelines. It resolves requires, activates and merges profiles
// exactly as Skaffold does (plus JSON patches), expands templates over the
// environment, resolves relative paths, and reports every mistake as one line
// naming the file, line, column and field path.
package config

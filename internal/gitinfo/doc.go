// Package gitinfo reads what tags and pipelines need from a git
// repository — HEAD's commit and tree, `git describe --tags --always`, the
// tags at HEAD, the branch, and whether a directory has uncommitted
// changes — with go-git, never by running git.
package gitinfo

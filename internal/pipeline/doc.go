// Package pipeline owns skiff's CI job graph: the jobs a merge request, a
// tag, a push to the default branch and a schedule run, built once from the
// project's environments and pipeline section. The gitlab and github
// packages turn the graph into CI configuration; the local package runs it on
// this machine with the same commands.
package pipeline

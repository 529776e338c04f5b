// Package build turns the configured artifacts into images: it computes
// each artifact's reference (default-repo rewriting, tag policies or
// --tag), schedules the builds as a DAG along `requires` with bounded
// concurrency, builds docker and kaniko artifacts with the daemonless
// Dockerfile builder and custom artifacts with their buildCommand, pushes
// (or writes an OCI layout), and returns the builds for the artifacts file.
package build

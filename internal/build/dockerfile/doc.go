// Package dockerfile reads a Dockerfile into a Plan: its stages with their
// bases resolved (scratch, an image, or an earlier stage), the stages the
// target needs, and the global ARGs after --build-arg overrides. Parsing is
// buildkit's own parser, instructions and shell packages, so skiff accepts
// exactly the syntax Docker does; every error names the file and line. It
// also reads .dockerignore files with Docker's semantics.
package dockerfile

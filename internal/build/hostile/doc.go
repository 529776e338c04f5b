// Package hostile is the corpus of hostile Dockerfiles and image layers
// that every isolation mode of the builder is tested against, and the
// runner that builds each one and checks that the host stayed unchanged (a
// sentinel directory tree compared before and after) and that a refused
// build fails with one clear line.
//
// The corpus is data; a mode supplies only how to run one build (Mode),
// so root, rootless and container isolation run the same table:
// hostile.Run(t, mode).
package hostile

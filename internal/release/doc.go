// Package release packages hydrated manifests as an OCI artifact so that
// staging and production receive identical bytes: one layer per
// environment's manifests, the artifacts file and a changelog, with the
// release's metadata as the artifact's config. It pushes, lists, shows and
// verifies them.
package release

// Package image tests skiff's own container image (make image,
// hack/image/build) on the sandbox's real node, and the release workflow
// that publishes it (.github/workflows).
package image

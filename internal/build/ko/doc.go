// Package ko builds Go main packages into images as ko does, without ko's
// library (whose build package links sigstore for SBOMs and signing skiff
// never uses): the go tool compiles, and the binary and kodata are laid
// over a base image pulled through skiff's registry client, giving the
// image ko would. It also lists the files a main package's build reads
// within its module, for skiff dev to watch.
package ko

// Package ko builds Go main packages into images in-process with ko's
// library (github.com/google/ko/pkg/build): the go tool compiles, ko lays
// the binary over a base image pulled through skiff's registry client. It
// also lists the files a main package's build reads within its module, for
// skiff dev to watch.
package ko

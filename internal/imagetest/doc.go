// Package imagetest runs the test section of a configuration against built
// images: custom tests (a host command with IMAGE set, Skaffold's contract)
// and container-structure-test files (file existence, file contents,
// metadata, and commands run inside the image's root filesystem with the
// builder's RUN sandbox). Results are returned as data; the CLI prints them.
package imagetest

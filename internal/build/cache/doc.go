// Package cache keys build steps by content and stores their results on
// local disk and in a registry. A Key is a sha256 over length-prefixed,
// labelled fields, so two different inputs can never encode to the same
// bytes; a step's key covers its parent's key, the expanded instruction,
// the build state it sees and, for COPY/ADD, the files it copies.
package cache

package oci

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// ArchiveReader returns the uncompressed stream of a tar archive
// (optionally gzip, bzip2 or zstd compressed), or ok=false if the file is
// not one. xz is not recognized: such files are copied as they are.
func ArchiveReader(f io.Reader) (io.Reader, bool) {
	br := bufio.NewReaderSize(f, 64<<10)
	head, _ := br.Peek(6)
	var r io.Reader = br
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, false
		}
		r = zr
	case bytes.HasPrefix(head, []byte("BZh")):
		r = bzip2.NewReader(br)
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, false
		}
		r = zr.IOReadCloser()
	}
	tr := bufio.NewReaderSize(r, 1024)
	block, err := tr.Peek(512)
	if err != nil || len(block) < 263 || !bytes.HasPrefix(block[257:], []byte("ustar")) {
		return nil, false
	}
	return tr, true
}

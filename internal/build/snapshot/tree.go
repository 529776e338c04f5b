package snapshot

import (
	"io"
	"os"
	"path"
	"path/filepath"
)

// WriteDir writes the whole tree under dir as one layer tar (the root
// directory itself is not an entry), in the same deterministic form as
// step layers: for importing a root filesystem as a base image.
func WriteDir(w io.Writer, dir string, opts Options) (Diff, error) {
	lw := newLayerWriter(w, opts)
	if err := writeTree(lw, dir, ""); err != nil {
		return Diff{}, err
	}
	return lw.close()
}

func writeTree(lw *layerWriter, dir, rel string) error {
	names, err := sortedNames(dir)
	if err != nil {
		return err
	}
	for _, n := range names {
		host := filepath.Join(dir, n)
		name := path.Join(rel, n)
		fi, err := os.Lstat(host)
		if err != nil {
			return err
		}
		if err := lw.add(host, name, fi); err != nil {
			return err
		}
		if fi.IsDir() {
			if err := writeTree(lw, host, name); err != nil {
				return err
			}
		}
	}
	return nil
}

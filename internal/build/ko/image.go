package ko

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Where ko puts things in the image, and the environment variable that
// tells the program where its kodata is.
const (
	appDir     = "/ko-app"
	kodataRoot = "/var/run/ko"
)

// The annotations of the image spec that name the base image
// (github.com/opencontainers/image-spec/specs-go/v1, annotations.go).
const (
	annotationBaseName   = "org.opencontainers.image.base.name"
	annotationBaseDigest = "org.opencontainers.image.base.digest"
)

// layout is what goes into one image.
type layout struct {
	importPath string
	base       v1.Image
	// baseName is the base as the user named it (tag kept).
	baseName string
	binary   string
	kodata   string
	created  v1.Time
	labels   map[string]string
	cache    layerCache
}

// assemble makes the image ko makes of a binary (pkg/build/gobuild.go,
// Build and buildOne), so that an image built by skiff has the digest ko
// would give it: the base annotated with its name and digest, a layer of
// kodata at /var/run/ko, a layer of the binary at /ko-app/<name>, typed
// like the base's layers; entrypoint the binary, no cmd, /ko-app on PATH,
// KO_DATA_PATH, the labels, and the creation time when one is set.
func assemble(l layout) (v1.Image, error) {
	mt, err := l.base.MediaType()
	if err != nil {
		return nil, fmt.Errorf("base image %s: %w", l.baseName, err)
	}
	// Some registries refuse an image whose layers are of mixed types.
	var layerType types.MediaType
	switch mt {
	case types.OCIManifestSchema1:
		layerType = types.OCILayer
	case types.DockerManifestSchema2:
		layerType = types.DockerLayer
	}
	baseDigest, err := l.base.Digest()
	if err != nil {
		return nil, fmt.Errorf("base image %s: %w", l.baseName, err)
	}
	base := mutate.Annotations(l.base, map[string]string{
		annotationBaseDigest: baseDigest.String(),
		annotationBaseName:   l.baseName,
	}).(v1.Image)
	data, err := tarKoData(l.kodata, l.created)
	if err != nil {
		return nil, fmt.Errorf("kodata: %w", err)
	}
	dataLayer, err := tarball.LayerFromOpener(bytesOpener(data), tarball.WithCompressedCaching, tarball.WithMediaType(layerType))
	if err != nil {
		return nil, err
	}
	appPath := path.Join(appDir, appFilename(l.importPath))
	binLayer, err := l.cache.binaryLayer(l.binary, appPath, layerType)
	if err != nil {
		return nil, err
	}
	ref := Scheme + l.importPath
	withApp, err := mutate.Append(base,
		mutate.Addendum{Layer: dataLayer, History: v1.History{
			Author: "ko", CreatedBy: "ko build " + ref, Created: l.created,
			Comment: "kodata contents, at $KO_DATA_PATH",
		}},
		mutate.Addendum{Layer: binLayer, MediaType: layerType, History: v1.History{
			Author: "ko", CreatedBy: "ko build " + ref, Created: l.created,
			Comment: "go build output, at " + appPath,
		}},
	)
	if err != nil {
		return nil, err
	}
	cfg, err := withApp.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Config.Entrypoint = []string{appPath}
	cfg.Config.Cmd = nil
	addToPath(cfg, appDir)
	cfg.Config.Env = append(cfg.Config.Env, "KO_DATA_PATH="+kodataRoot)
	cfg.Author = "github.com/ko-build/ko"
	if cfg.Config.Labels == nil {
		cfg.Config.Labels = map[string]string{}
	}
	for k, v := range l.labels {
		cfg.Config.Labels[k] = v
	}
	if !l.created.IsZero() {
		cfg.Created = l.created
	}
	return mutate.ConfigFile(withApp, cfg)
}

// checkPlatform refuses a base image of another platform than Platform
// before anything is compiled for it; a config without one is taken as
// linux/amd64, as ko does.
func checkPlatform(base v1.Image, baseName string) error {
	cf, err := base.ConfigFile()
	if err != nil {
		return fmt.Errorf("base image %s: %w", baseName, err)
	}
	osName, arch := cf.OS, cf.Architecture
	if osName == "" {
		osName = "linux"
	}
	if arch == "" {
		arch = "amd64"
	}
	if osName+"/"+arch != Platform {
		return fmt.Errorf("base image %s is for %s/%s; skiff builds %s images: use a base image that has %s", baseName, osName, arch, Platform, Platform)
	}
	return nil
}

// appFilename is the binary's name: the import path's last element.
func appFilename(importPath string) string {
	base := path.Base(importPath)
	if base == "." || base == "/" {
		return "ko-app"
	}
	return base
}

// addToPath appends dir to PATH, or sets PATH to it.
func addToPath(cf *v1.ConfigFile, dir string) {
	for i, env := range cf.Config.Env {
		if k, v, ok := strings.Cut(env, "="); ok && k == "PATH" {
			cf.Config.Env[i] = "PATH=" + v + ":" + dir
			return
		}
	}
	cf.Config.Env = append(cf.Config.Env, "PATH="+dir)
}

func bytesOpener(b []byte) tarball.Opener {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// tarBinary is the binary's layer: /ko-app and the file, both mode 0555
// whatever the umask, without times, so the layer depends only on the
// binary.
func tarBinary(appPath, binary string) ([]byte, error) {
	f, err := os.Open(binary)
	if err != nil {
		return nil, fmt.Errorf("reading the built binary: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(appDir, "/"), Typeflag: tar.TypeDir, Mode: 0o555}); err != nil {
		return nil, err
	}
	if err := tw.WriteHeader(&tar.Header{Name: appPath, Size: fi.Size(), Typeflag: tar.TypeReg, Mode: 0o555}); err != nil {
		return nil, err
	}
	if _, err := io.Copy(tw, f); err != nil {
		return nil, fmt.Errorf("reading the built binary: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tarKoData is the kodata layer: /var/run/ko and below it every file of
// root, symbolic links followed (a link to a directory is copied as the
// directory), all mode 0555 and stamped with created. A missing root is an
// empty /var/run/ko.
func tarKoData(root string, created v1.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, dir := range []string{"/var", "/var/run", kodataRoot} {
		if err := tw.WriteHeader(&tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o555, ModTime: created.Time}); err != nil {
			return nil, err
		}
	}
	if err := walkKoData(tw, root, kodataRoot, created); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// walkKoData adds the files under root as chroot, in filepath.Walk's
// (lexical) order; directories get no entries of their own, as in ko.
func walkKoData(tw *tar.Writer, root, chroot string, created v1.Time) error {
	return filepath.Walk(root, func(hostPath string, info os.FileInfo, err error) error {
		if hostPath == root {
			// Also a root that does not exist.
			return nil
		}
		if err != nil {
			return err
		}
		if info.IsDir() {
			return nil
		}
		newPath := path.Join(chroot, filepath.ToSlash(hostPath[len(root):]))
		target, err := filepath.EvalSymlinks(hostPath)
		if err != nil {
			return fmt.Errorf("%s: %w", hostPath, err)
		}
		if info, err = os.Stat(target); err != nil {
			return err
		}
		if info.IsDir() {
			return walkKoData(tw, target, newPath, created)
		}
		f, err := os.Open(target)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := tw.WriteHeader(&tar.Header{Name: newPath, Size: info.Size(), Typeflag: tar.TypeReg, Mode: 0o555, ModTime: created.Time}); err != nil {
			return err
		}
		if _, err := io.Copy(tw, f); err != nil {
			return fmt.Errorf("%s: %w", hostPath, err)
		}
		return nil
	})
}

package main

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// epoch is the mtime of every file and the creation time of the image: a fixed
// value keeps the digest the same on every machine with the same busybox.
var epoch = time.Unix(0, 0).UTC()

const basePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// runPushBase builds the busybox base image and pushes it to REF unless the
// registry already has exactly that digest there. It prints the digest.
func runPushBase(ctx context.Context, args []string) error {
	fs := newFlags("push-base")
	busybox := fs.String("busybox", "/bin/busybox", "path of a static busybox binary")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("want exactly one image reference")
	}
	img, err := baseImage(ctx, *busybox)
	if err != nil {
		return err
	}
	return pushIfChanged(ctx, fs.Arg(0), img)
}

// runPushPause pushes the pod sandbox ("pause") image of the real node: the
// static pause binary that hack/testenv compiles from kubernetes' pause.c,
// alone in one layer, run as 65535 like the upstream image.
func runPushPause(ctx context.Context, args []string) error {
	fs := newFlags("push-pause")
	pause := fs.String("pause", "", "path of a static pause binary")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *pause == "" {
		return errors.New("want -pause PATH and exactly one image reference")
	}
	bin, err := os.ReadFile(*pause)
	if err != nil {
		return err
	}
	if err := checkStatic(*pause); err != nil {
		return err
	}
	layerTar, err := tarOf([]entry{{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "pause", Mode: 0o755, Size: int64(len(bin))}, data: bin}})
	if err != nil {
		return err
	}
	img, err := singleLayerImage(layerTar, "skiff hack/testenv: kubernetes build/pause/linux/pause.c, gcc -static", func(c *v1.Config) {
		c.Entrypoint = []string{"/pause"}
		c.User = "65535:65535"
	})
	if err != nil {
		return err
	}
	return pushIfChanged(ctx, fs.Arg(0), img)
}

// pushIfChanged pushes img to ref unless the registry already has exactly
// that digest there, and prints the digest.
func pushIfChanged(ctx context.Context, refName string, img v1.Image) error {
	ref, err := name.ParseReference(refName, name.Insecure)
	if err != nil {
		return err
	}
	want, err := img.Digest()
	if err != nil {
		return err
	}
	if desc, err := remote.Head(ref, remote.WithContext(ctx)); err == nil && desc.Digest == want {
		fmt.Fprintf(os.Stderr, "image %s is up to date (%s)\n", ref, want)
		fmt.Println(want)
		return nil
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	fmt.Fprintf(os.Stderr, "pushed image %s (%s)\n", ref, want)
	fmt.Println(want)
	return nil
}

// baseImage is a single-layer linux/amd64 OCI image holding busybox with one
// symlink per applet in /bin, root and nobody accounts and a sticky /tmp.
func baseImage(ctx context.Context, busyboxPath string) (v1.Image, error) {
	bin, err := os.ReadFile(busyboxPath)
	if err != nil {
		return nil, err
	}
	if err := checkStatic(busyboxPath); err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, busyboxPath, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", busyboxPath, err)
	}
	applets := strings.Fields(string(out))
	if !slices.Contains(applets, "sh") {
		return nil, fmt.Errorf("%s has no sh applet", busyboxPath)
	}
	layerTar, err := rootfsTar(bin, applets)
	if err != nil {
		return nil, err
	}
	return singleLayerImage(layerTar, "skiff hack/testenv: busybox-static rootfs", func(c *v1.Config) {
		c.Env = []string{"PATH=" + basePath}
		c.Cmd = []string{"sh"}
	})
}

// singleLayerImage is a linux/amd64 OCI image of one uncompressed layer tar
// with fixed times, its config edited by edit.
func singleLayerImage(layerTar []byte, createdBy string, edit func(*v1.Config)) (v1.Image, error) {
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: epoch}, CreatedBy: createdBy},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture = "amd64"
	cf.OS = "linux"
	cf.Created = v1.Time{Time: epoch}
	edit(&cf.Config)
	return mutate.ConfigFile(img, cf)
}

// checkStatic rejects a dynamically linked busybox: the image has no libc.
func checkStatic(p string) error {
	f, err := elf.Open(p)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("%s is %s, the base image is amd64", p, f.Machine)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; install busybox-static", p)
		}
	}
	return nil
}

type entry struct {
	hdr  tar.Header
	data []byte
}

// rootfsTar writes the rootfs as an uncompressed tar with sorted entries,
// owner root and fixed times.
func rootfsTar(busybox []byte, applets []string) ([]byte, error) {
	dir := func(p string, mode int64) entry {
		return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: mode}}
	}
	file := func(p string, mode int64, data string) entry {
		return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: mode, Size: int64(len(data))}, data: []byte(data)}
	}
	entries := []entry{
		dir("bin", 0o755), dir("dev", 0o755), dir("etc", 0o755), dir("home", 0o755),
		dir("proc", 0o555), dir("root", 0o700), dir("sys", 0o555), dir("tmp", 0o1777),
		dir("usr", 0o755), dir("usr/bin", 0o755), dir("usr/sbin", 0o755), dir("sbin", 0o755),
		dir("var", 0o755), dir("var/tmp", 0o1777),
		file("etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"),
		file("etc/group", 0o644, "root:x:0:\nnobody:x:65534:\n"),
		{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(busybox))}, data: busybox},
	}
	seen := map[string]bool{"busybox": true}
	for _, a := range applets {
		n := path.Base(a)
		if seen[n] {
			continue
		}
		seen[n] = true
		entries = append(entries, entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + n, Linkname: "busybox", Mode: 0o777}})
	}
	return tarOf(entries)
}

// tarOf writes entries as an uncompressed tar, sorted by name, owner root
// and fixed times.
func tarOf(entries []entry) ([]byte, error) {
	sort.Slice(entries, func(i, j int) bool { return entries[i].hdr.Name < entries[j].hdr.Name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		h.ModTime = epoch
		h.Uname, h.Gname = "root", "root"
		if err := tw.WriteHeader(&h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

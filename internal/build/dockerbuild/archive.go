package dockerbuild

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/skiff-dev/skiff/internal/oci"
)

func isLocalArchive(host string) bool {
	f, err := os.Open(host)
	if err != nil {
		return false
	}
	defer f.Close()
	_, ok := oci.ArchiveReader(f)
	return ok
}

// extractArchive unpacks a local archive for ADD into dest.
func extractArchive(ctx context.Context, host, root, dest string, chown *[2]int, cp *copier) error {
	if _, err := cp.mkdirAll(dest); err != nil {
		return err
	}
	f, err := os.Open(host)
	if err != nil {
		return err
	}
	defer f.Close()
	r, ok := oci.ArchiveReader(f)
	if !ok {
		return fmt.Errorf("not an archive")
	}
	_, err = oci.Extract(ctx, r, root, oci.ExtractOptions{Prefix: strings.TrimLeft(dest, "/"), Chown: chown})
	return err
}

// download fetches an ADD URL into a scratch directory, verifying
// --checksum when given. The file keeps the URL's base name, mode 0600 and
// the server's Last-Modified time, as in Docker.
func (b *builder) download(ctx context.Context, src, checksum string) (item, error) {
	u, err := url.Parse(src)
	if err != nil {
		return item{}, fmt.Errorf("ADD %s: %w", src, err)
	}
	name := path.Base(u.Path)
	if name == "." || name == "/" || name == "" {
		name = "__unnamed__"
	}
	dir, err := b.opts.Store.TempDir("download")
	if err != nil {
		return item{}, err
	}
	b.addCleanup(dir)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return item{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return item{}, fmt.Errorf("ADD %s: %w", src, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return item{}, fmt.Errorf("ADD %s: %s", src, resp.Status)
	}
	p := filepath.Join(dir, name)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		return item{}, err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return item{}, fmt.Errorf("ADD %s: %w", src, err)
	}
	if got := fmt.Sprintf("sha256:%x", h.Sum(nil)); checksum != "" && got != checksum {
		return item{}, fmt.Errorf("ADD %s: checksum mismatch: got %s, want %s", src, got, checksum)
	}
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		_ = os.Chtimes(p, lm, lm)
	} else {
		t := time.Unix(0, 0)
		_ = os.Chtimes(p, t, t)
	}
	it, err := newRootSource(dir).collect(name)
	it.remote = true
	return it, err
}

// heredoc writes an inline COPY source to a scratch directory.
func (b *builder) heredoc(sc instructions.SourceContent) (item, error) {
	dir, err := b.opts.Store.TempDir("heredoc")
	if err != nil {
		return item{}, err
	}
	b.addCleanup(dir)
	name := path.Base("/" + sc.Path)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(sc.Data), 0o644); err != nil {
		return item{}, err
	}
	t := time.Unix(0, 0)
	_ = os.Chtimes(p, t, t)
	return newRootSource(dir).collect(name)
}

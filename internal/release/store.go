package release

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/oci"
)

// ErrTampered is returned when stored bytes do not match the digests the
// release recorded.
var ErrTampered = errors.New("release content does not match its digests")

// Store keeps releases in a registry.
type Store struct {
	Client *oci.Client
}

// Repository is where an application's releases live: the configured
// release repository, else <default repo>/<app>/releases.
func Repository(configured, defaultRepo, app string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	if defaultRepo == "" {
		return "", fmt.Errorf("no release repository: set release.repository in skiff.yaml, or pass --default-repo (or SKAFFOLD_DEFAULT_REPO)")
	}
	return strings.TrimSuffix(defaultRepo, "/") + "/" + app + "/releases", nil
}

// Push uploads p to repo:<tag> and returns the pushed reference by digest.
func (s *Store) Push(ctx context.Context, repo string, p *Package) (name.Digest, error) {
	img, err := p.Image()
	if err != nil {
		return name.Digest{}, err
	}
	tag, err := s.Client.ParseReference(repo + ":" + p.Metadata.Tag)
	if err != nil {
		return name.Digest{}, err
	}
	res, err := s.Client.Push(ctx, tag, img)
	if err != nil {
		return name.Digest{}, err
	}
	return tag.Context().Digest(res.Digest.String()), nil
}

// Release is a release read back from a registry.
type Release struct {
	// Ref is the release pinned by digest: repo@sha256:….
	Ref      name.Digest
	Metadata Metadata
	layers   []v1.Descriptor
	img      v1.Image
}

// Get reads the release at ref (repo:tag or repo@digest).
func (s *Store) Get(ctx context.Context, ref string) (*Release, error) {
	r, err := s.Client.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	img, err := s.Client.Image(ctx, r)
	if err != nil {
		return nil, err
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading release %s: %w", ref, err)
	}
	if m.ArtifactType != ArtifactType || m.Config.MediaType != ConfigMediaType {
		return nil, fmt.Errorf("%s is not a skiff release (artifactType %q); releases are made with skiff release create", ref, m.ArtifactType)
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, err
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading release %s: %w", ref, err)
	}
	if got := sha256Hex(raw); got != m.Config.Digest.Hex {
		return nil, fmt.Errorf("release %s: metadata has digest sha256:%s, the manifest says %s: %w", ref, got, m.Config.Digest, ErrTampered)
	}
	rel := &Release{Ref: r.Context().Digest(digest.String()), layers: m.Layers, img: img}
	if err := json.Unmarshal(raw, &rel.Metadata); err != nil {
		return nil, fmt.Errorf("release %s: metadata: %w", ref, err)
	}
	return rel, nil
}

// Environments names the environments the release has manifests for.
func (r *Release) Environments() []string {
	var out []string
	for _, e := range r.Metadata.Environments {
		out = append(out, e.Name)
	}
	return out
}

// Manifests returns the hydrated manifests for environment env after
// checking them against the layer digest and the release metadata.
func (r *Release) Manifests(ctx context.Context, env string) ([]byte, error) {
	var want string
	for _, e := range r.Metadata.Environments {
		if e.Name == env {
			want = e.Digest
		}
	}
	for _, d := range r.layers {
		if d.MediaType == ManifestsMediaType && d.Annotations[AnnotationEnvironment] == env {
			if want != "" && want != d.Digest.String() {
				return nil, fmt.Errorf("release %s: environment %s: metadata says %s, the manifest lists %s: %w", r.Ref, env, want, d.Digest, ErrTampered)
			}
			return r.blob(ctx, d)
		}
	}
	return nil, fmt.Errorf("release %s has no manifests for environment %s (it has: %s)", r.Ref, env, strings.Join(r.Environments(), ", "))
}

// Changelog returns the release's changelog.
func (r *Release) Changelog(ctx context.Context) (string, error) {
	for _, d := range r.layers {
		if d.MediaType == ChangelogMediaType {
			b, err := r.blob(ctx, d)
			return string(b), err
		}
	}
	return "", nil
}

// Artifacts returns the release's artifacts file.
func (r *Release) Artifacts(ctx context.Context) (*artifact.File, error) {
	for _, d := range r.layers {
		if d.MediaType == ArtifactsMediaType {
			b, err := r.blob(ctx, d)
			if err != nil {
				return nil, err
			}
			return artifact.Read(bytes.NewReader(b), r.Ref.String()+"#artifacts.json")
		}
	}
	return &artifact.File{}, nil
}

// blob reads a layer and verifies its SHA-256 against its descriptor.
func (r *Release) blob(_ context.Context, d v1.Descriptor) ([]byte, error) {
	l, err := r.img.LayerByDigest(d.Digest)
	if err != nil {
		return nil, fmt.Errorf("release %s: %w", r.Ref, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, fmt.Errorf("release %s: fetching %s: %w", r.Ref, title(d), err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		if strings.Contains(err.Error(), "error verifying") {
			// go-containerregistry checks the digest while reading.
			return nil, fmt.Errorf("release %s: %s: the stored bytes do not match the release (%v): %w", r.Ref, title(d), err, ErrTampered)
		}
		return nil, fmt.Errorf("release %s: fetching %s: %w", r.Ref, title(d), err)
	}
	if got := sha256Hex(data); got != d.Digest.Hex {
		return nil, fmt.Errorf("release %s: %s has digest sha256:%s, the release says %s: %w", r.Ref, title(d), got, d.Digest, ErrTampered)
	}
	return data, nil
}

func title(d v1.Descriptor) string {
	if t := d.Annotations[annotationTitle]; t != "" {
		return t
	}
	return d.Digest.String()
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return fmt.Sprintf("%x", sum)
}

// List reads every release in repo, newest first.
func (s *Store) List(ctx context.Context, repo string) ([]*Release, error) {
	r, err := s.Client.ParseRepository(repo)
	if err != nil {
		return nil, err
	}
	tags, err := s.Client.ListTags(ctx, r)
	if err != nil {
		return nil, err
	}
	var out []*Release
	for _, t := range tags {
		rel, err := s.Get(ctx, repo+":"+t)
		if err != nil {
			return nil, err
		}
		out = append(out, rel)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Metadata.Created.After(out[j].Metadata.Created) })
	return out, nil
}

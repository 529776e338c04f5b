package release

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/skiff-dev/skiff/internal/artifact"
)

// Media types of a release artifact.
const (
	ArtifactType       = "application/vnd.skiff.release.v1"
	ConfigMediaType    = "application/vnd.skiff.release.config.v1+json"
	ManifestsMediaType = "application/vnd.skiff.manifests.v1+yaml"
	ArtifactsMediaType = "application/vnd.skiff.artifacts.v1+json"
	ChangelogMediaType = "text/markdown"

	// AnnotationEnvironment names the environment a manifests layer is for.
	AnnotationEnvironment = "dev.skiff.environment"
	annotationTitle       = "org.opencontainers.image.title"
)

// Metadata describes a release; it is the artifact's config.
type Metadata struct {
	App     string    `json:"app"`
	Tag     string    `json:"tag"`
	Commit  string    `json:"commit,omitempty"`
	Created time.Time `json:"created"`
	// Images are the built images, as in the artifacts file.
	Images []artifact.Build `json:"images"`
	// Environments lists the environments the release has manifests for.
	Environments []EnvironmentInfo `json:"environments"`
}

// EnvironmentInfo summarises one environment's manifests in a release.
type EnvironmentInfo struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
	Objects   int    `json:"objects"`
	// Digest is the SHA-256 of the manifests (the layer's digest).
	Digest string `json:"digest"`
}

// Package is a release before it is pushed.
type Package struct {
	Metadata Metadata
	// Manifests maps environment name → hydrated YAML.
	Manifests map[string][]byte
	// Artifacts is the artifacts file.
	Artifacts *artifact.File
	// Changelog is Markdown.
	Changelog string
}

// blob is a layer or config held in memory.
type blob struct {
	data        []byte
	mediaType   types.MediaType
	annotations map[string]string
}

func (b blob) descriptor() v1.Descriptor {
	sum := sha256.Sum256(b.data)
	return v1.Descriptor{
		MediaType:   b.mediaType,
		Size:        int64(len(b.data)),
		Digest:      v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sum)},
		Annotations: b.annotations,
	}
}

// Image builds the OCI artifact: an image manifest with artifactType, the
// metadata as config and one layer per file. Identical packages give
// identical digests.
func (p *Package) Image() (v1.Image, error) {
	envs := make([]string, 0, len(p.Manifests))
	for name := range p.Manifests {
		envs = append(envs, name)
	}
	sort.Strings(envs)
	meta := p.Metadata
	meta.Environments = nil
	var layers []blob
	for _, name := range envs {
		b := blob{data: p.Manifests[name], mediaType: ManifestsMediaType, annotations: map[string]string{
			annotationTitle:       "manifests/" + name + ".yaml",
			AnnotationEnvironment: name,
		}}
		info := EnvironmentInfo{Name: name, Objects: countDocuments(b.data), Digest: b.descriptor().Digest.String()}
		for _, e := range p.Metadata.Environments {
			if e.Name == name {
				info.Namespace = e.Namespace
			}
		}
		meta.Environments = append(meta.Environments, info)
		layers = append(layers, b)
	}
	if p.Artifacts != nil {
		var buf bytes.Buffer
		if err := p.Artifacts.Write(&buf); err != nil {
			return nil, err
		}
		meta.Images = p.Artifacts.Builds
		layers = append(layers, blob{data: buf.Bytes(), mediaType: ArtifactsMediaType, annotations: map[string]string{annotationTitle: "artifacts.json"}})
	}
	if meta.Images == nil {
		meta.Images = []artifact.Build{}
	}
	layers = append(layers, blob{data: []byte(p.Changelog), mediaType: ChangelogMediaType, annotations: map[string]string{annotationTitle: "CHANGELOG.md"}})
	cfg, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	config := blob{data: cfg, mediaType: ConfigMediaType}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  ArtifactType,
		Config:        config.descriptor(),
		Annotations: map[string]string{
			"org.opencontainers.image.title":   meta.App,
			"org.opencontainers.image.version": meta.Tag,
			"org.opencontainers.image.created": meta.Created.UTC().Format(time.RFC3339),
		},
	}
	if meta.Commit != "" {
		m.Annotations["org.opencontainers.image.revision"] = meta.Commit
	}
	img := &memImage{config: config, layers: map[v1.Hash]blob{}}
	for _, l := range layers {
		d := l.descriptor()
		m.Layers = append(m.Layers, d)
		img.layers[d.Digest] = l
	}
	if img.manifest, err = json.Marshal(m); err != nil {
		return nil, err
	}
	return partial.CompressedToImage(img)
}

func countDocuments(data []byte) int {
	n := 0
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		if len(bytes.TrimSpace(doc)) > 0 {
			n++
		}
	}
	return n
}

// memImage is an artifact whose blobs are in memory.
type memImage struct {
	manifest []byte
	config   blob
	layers   map[v1.Hash]blob
}

func (m *memImage) RawConfigFile() ([]byte, error)      { return m.config.data, nil }
func (m *memImage) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (m *memImage) RawManifest() ([]byte, error)        { return m.manifest, nil }

func (m *memImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == m.config.descriptor().Digest {
		return memLayer{m.config}, nil
	}
	b, ok := m.layers[h]
	if !ok {
		return nil, fmt.Errorf("release artifact has no blob %s", h)
	}
	return memLayer{b}, nil
}

type memLayer struct{ b blob }

func (l memLayer) Digest() (v1.Hash, error) { return l.b.descriptor().Digest, nil }
func (l memLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.b.data)), nil
}
func (l memLayer) Size() (int64, error)                { return int64(len(l.b.data)), nil }
func (l memLayer) MediaType() (types.MediaType, error) { return l.b.mediaType, nil }

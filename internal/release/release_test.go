package release_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/oci"
	"github.com/skiff-dev/skiff/internal/release"
	"github.com/skiff-dev/skiff/internal/testenv"
)

func testPackage(t *testing.T, tag string) *release.Package {
	unique := fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())
	return &release.Package{
		Metadata: release.Metadata{App: "shop", Tag: tag, Commit: "0123456789abcdef", Created: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC),
			Environments: []release.EnvironmentInfo{{Name: "production", Namespace: "shop"}}},
		Manifests: map[string][]byte{
			"staging":    []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: staging\ndata:\n  unique: " + unique + "\n"),
			"production": []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: production\ndata:\n  unique: " + unique + "\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n"),
		},
		Artifacts: &artifact.File{Builds: []artifact.Build{{ImageName: "shop", Tag: "registry.example.com/shop:v1@sha256:" + strings.Repeat("a", 64)}}},
		Changelog: "## " + tag + "\n\n- first (abcdef12)\n",
	}
}

func TestImageIsDeterministic(t *testing.T) {
	p := testPackage(t, "v1")
	a, err := p.Image()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := p.Image()
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Errorf("the same package gave digests %s and %s", da, db)
	}
	m, _ := a.Manifest()
	if m.ArtifactType != release.ArtifactType || len(m.Layers) != 4 || m.Layers[0].Annotations[release.AnnotationEnvironment] != "production" {
		t.Errorf("manifest: artifactType %q, layers %+v", m.ArtifactType, m.Layers)
	}
}

func TestReleaseRoundTripAndTamperDetection(t *testing.T) {
	e := testenv.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store := &release.Store{Client: oci.New(oci.Options{})}
	repo := e.Repo(t, "shop/releases")
	p := testPackage(t, "v1.0.0")
	ref, err := store.Push(ctx, repo, p)
	if err != nil {
		t.Fatal(err)
	}
	// Pushing the same package again changes nothing.
	again, err := store.Push(ctx, repo, p)
	if err != nil || again.String() != ref.String() {
		t.Fatalf("second push: %v, %v (first %v)", again, err, ref)
	}
	for _, r := range []string{repo + ":v1.0.0", ref.String()} {
		rel, err := store.Get(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if rel.Ref.String() != ref.String() || rel.Metadata.App != "shop" || rel.Metadata.Tag != "v1.0.0" {
			t.Errorf("Get(%s) = %v %+v", r, rel.Ref, rel.Metadata)
		}
		for env, want := range p.Manifests {
			got, err := rel.Manifests(ctx, env)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(string(want), string(got)); d != "" {
				t.Errorf("%s manifests (-want +got):\n%s", env, d)
			}
		}
		if cl, _ := rel.Changelog(ctx); cl != p.Changelog {
			t.Errorf("changelog %q", cl)
		}
		if af, _ := rel.Artifacts(ctx); len(af.Builds) != 1 || af.Builds[0].ImageName != "shop" {
			t.Errorf("artifacts %+v", af)
		}
		if _, err := rel.Manifests(ctx, "qa"); err == nil || !strings.Contains(err.Error(), "has no manifests for environment qa (it has: production, staging)") {
			t.Errorf("unknown environment: %v", err)
		}
	}
	if _, err := store.Push(ctx, repo, testPackage(t, "v1.1.0")); err != nil {
		t.Fatal(err)
	}
	list, err := store.List(ctx, repo)
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %d releases, %v", len(list), err)
	}

	// Change the stored bytes of production's layer behind the registry's
	// back: reading the release must notice.
	rel, _ := store.Get(ctx, ref.String())
	var digest string
	for _, env := range rel.Metadata.Environments {
		if env.Name == "production" {
			digest = strings.TrimPrefix(env.Digest, "sha256:")
		}
	}
	blob := filepath.Join(e.Root(), ".testenv", "registry", "data", "docker", "registry", "v2", "blobs", "sha256", digest[:2], digest, "data")
	data, err := os.ReadFile(blob)
	if err != nil {
		t.Fatalf("registry storage: %v", err)
	}
	tampered := []byte(strings.Replace(string(data), "name: b", "name: x", 1))
	if err := os.WriteFile(blob, tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := rel.Manifests(ctx, "production"); !errors.Is(err, release.ErrTampered) {
		t.Fatalf("tampered layer read as %v, want ErrTampered", err)
	}
	if _, err := rel.Manifests(ctx, "staging"); err != nil {
		t.Errorf("an untouched layer must still read: %v", err)
	}
}

func TestGetRefusesOtherArtifacts(t *testing.T) {
	e := testenv.Require(t)
	store := &release.Store{Client: oci.New(oci.Options{})}
	if _, err := store.Get(context.Background(), e.BaseImage()); err == nil || !strings.Contains(err.Error(), "is not a skiff release") {
		t.Errorf("Get(base image) = %v", err)
	}
}

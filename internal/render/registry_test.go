package render

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/oci"
	"github.com/skiff-dev/skiff/internal/oci/ocitest"
)

// privateRegistry is a name go-containerregistry would also try over plain
// HTTP (an RFC 1918 address); the test transport reaches the in-process
// registry under it, so nothing leaves the machine.
const privateRegistry = "10.20.30.40:5000"

// TestRemoteDigestThroughTheRegistryClient: --digest-source=remote resolves
// digests with skiff's registry client, which refuses plain HTTP to a
// registry that is neither loopback nor listed as insecure.
func TestRemoteDigestThroughTheRegistryClient(t *testing.T) {
	reg := ocitest.New(t, false)
	img := reg.Push(t, "app:1.0", nil)
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "pod.yaml"), "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: app\n    image: app\n")
	tests := []struct {
		name     string
		insecure []string
		refused  bool
	}{
		{"not listed", nil, true},
		{"listed", []string{privateRegistry}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg.Reset()
			opts := Options{
				RawYAML:      []string{filepath.Join(dir, "pod.yaml")},
				Builds:       []artifact.Build{{ImageName: "app", Tag: privateRegistry + "/app:1.0"}},
				DigestSource: DigestRemote,
				Registry:     oci.New(oci.Options{Insecure: tt.insecure, Transport: reg.Redirect(), Attempts: 1, Keychain: authn.NewMultiKeychain()}),
			}
			res, err := Render(context.Background(), opts)
			var plain *oci.PlainHTTPError
			if tt.refused {
				if !errors.As(err, &plain) || !strings.Contains(err.Error(), "image app: resolving the digest of "+privateRegistry+"/app:1.0") {
					t.Fatalf("error %v, want a refusal of plain HTTP naming the image", err)
				}
				if reg.Requests() != 0 {
					t.Errorf("the registry saw %d plain-HTTP requests", reg.Requests())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, want := res.Images.Replaced[0].Pinned, privateRegistry+"/app:1.0@"+digest.String(); got != want {
				t.Errorf("pinned %s, want %s", got, want)
			}
		})
	}
}

// TestOCIChartThroughTheRegistryClient renders a remoteChart from an OCI
// registry with skiff's registry client: the insecure list applies to Helm
// charts as it does to images, and a release's --plain-http lists its own.
func TestOCIChartThroughTheRegistryClient(t *testing.T) {
	reg := ocitest.New(t, false)
	for _, v := range []string{"0.3.0", "0.2.0", "0.10.0-rc.1"} {
		reg.Push(t, "charts/web:"+v, ocitest.HelmChart(t, "testdata/charts/web"))
	}
	local := helmObjects(t, HelmRelease{Name: "web", ChartPath: "testdata/charts/web"}, nil, "")
	remote := "oci://" + privateRegistry + "/charts/web"
	tests := []struct {
		name     string
		insecure []string
		rel      HelmRelease
		err      string
	}{
		{name: "not listed", rel: HelmRelease{RemoteChart: remote, Version: "0.3.0"}, err: "refusing plain HTTP to registry " + privateRegistry},
		{name: "listed, exact version", insecure: []string{privateRegistry}, rel: HelmRelease{RemoteChart: remote, Version: "0.3.0"}},
		{name: "listed, constraint", insecure: []string{privateRegistry}, rel: HelmRelease{RemoteChart: remote, Version: ">=0.2 <0.4"}},
		{name: "listed, highest", insecure: []string{privateRegistry}, rel: HelmRelease{RemoteChart: remote}},
		{name: "--plain-http lists it", rel: HelmRelease{RemoteChart: remote, Version: "0.3.0", Flags: []string{"--plain-http"}}},
		{name: "listed, no such version", insecure: []string{privateRegistry}, rel: HelmRelease{RemoteChart: remote, Version: "^1.0"}, err: `no version matches "^1.0" (have 0.10.0-rc.1, 0.2.0, 0.3.0)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rel := tt.rel
			rel.Name = "web"
			client := oci.New(oci.Options{Insecure: tt.insecure, Transport: reg.Redirect(), Attempts: 1, Keychain: authn.NewMultiKeychain()})
			items, _, err := renderHelm(context.Background(), rel, helmContext{registry: client})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != len(local) {
				t.Errorf("remote chart gave %d objects, the local one %d", len(items), len(local))
			}
		})
	}
}

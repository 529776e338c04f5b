package ocitest

import (
	"os"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
)

// Media types of a Helm chart stored in an OCI registry.
const (
	HelmConfigMediaType = "application/vnd.cncf.helm.config.v1+json"
	HelmChartMediaType  = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
)

// HelmChart packs the chart directory dir as Helm stores charts in OCI
// registries (helm push): one chart layer, Helm's config media type.
func HelmChart(t testing.TB, dir string) v1.Image {
	t.Helper()
	data := HelmArchive(t, dir)
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), mutate.Addendum{
		Layer: static.NewLayer(data, HelmChartMediaType),
	})
	if err != nil {
		t.Fatal(err)
	}
	return mutate.ConfigMediaType(img, HelmConfigMediaType)
}

// HelmArchive packs the chart directory dir as `helm package` does: the
// .tgz a chart repository serves.
func HelmArchive(t testing.TB, dir string) []byte {
	t.Helper()
	ch, err := loader.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	tgz, err := chartutil.Save(ch, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(tgz)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

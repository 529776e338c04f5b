package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/skiff-dev/skiff/internal/build/ko"
	"github.com/skiff-dev/skiff/internal/config"
)

// koBuilder builds ko artifacts as ko does (package ko), always on
// this machine (Skaffold's ko builder is local only), and pushes them like
// Dockerfile builds.
type koBuilder struct {
	opts Options
}

func (k *koBuilder) Build(ctx context.Context, a *config.Artifact, ref name.Tag, _ map[string]string, emit func(Event)) (Built, error) {
	spec, ok := KoSpec(a)
	if !ok {
		return Built{}, fmt.Errorf("artifact %s is not a ko artifact", a.ImageName)
	}
	kopts := ko.Options{
		Registry: k.opts.Registry,
		Log:      func(line string) { emit(Event{Kind: ArtifactOutput, Tag: ref.String(), Text: line}) },
	}
	if k.opts.CacheArtifacts {
		dir, err := CacheDir(k.opts.CacheDir)
		if err != nil {
			return Built{}, err
		}
		kopts.CacheDir = filepath.Join(dir, "ko")
	}
	epoch, err := koEpoch(k.opts)
	if err != nil {
		return Built{}, err
	}
	kopts.Epoch = epoch
	img, err := ko.Build(ctx, spec, kopts)
	if err != nil {
		return Built{}, err
	}
	dig, err := img.Digest()
	if err != nil {
		return Built{}, err
	}
	built := Built{Ref: ref.String() + "@" + dig.String()}
	if built.Pushed, err = deliver(ctx, k.opts, ref, img); err != nil {
		return Built{}, err
	}
	return built, nil
}

// koEpoch is the time a ko image is stamped with: SOURCE_DATE_EPOCH or the
// build's pinned time; without either, the image keeps the base's creation
// time and its layers carry none, as ko's build leaves them.
func koEpoch(opts Options) (*time.Time, error) {
	if opts.SourceDateEpoch != nil {
		return opts.SourceDateEpoch, nil
	}
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds", v)
		}
		t := time.Unix(n, 0).UTC()
		return &t, nil
	}
	return nil, nil
}

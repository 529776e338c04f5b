package cli

import (
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/render"
)

// Flag values that remember whether they were given, so that a flag wins
// over the configuration only when it is on the command line.

// optBool is a boolean flag that knows whether it was set.
type optBool struct{ v, set bool }

func (b *optBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	b.v, b.set = v, true
	return nil
}
func (b *optBool) String() string   { return strconv.FormatBool(b.v) }
func (b *optBool) Type() string     { return "bool" }
func (b *optBool) IsBoolFlag() bool { return true }

// or is the flag's value when given, else config when not nil, else the
// flag's default.
func (b optBool) or(config *bool) bool {
	if !b.set && config != nil {
		return *config
	}
	return b.v
}

// optDuration is a duration flag that knows whether it was set.
type optDuration struct {
	v   time.Duration
	set bool
}

func (d *optDuration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.v, d.set = v, true
	return nil
}
func (d *optDuration) String() string { return d.v.String() }
func (d *optDuration) Type() string   { return "duration" }

// orSeconds is the flag's value when given, else seconds when positive,
// else the flag's default.
func (d optDuration) orSeconds(seconds int) time.Duration {
	if !d.set && seconds > 0 {
		return time.Duration(seconds) * time.Second
	}
	return d.v
}

// boolFlag registers an optBool with its default.
func boolFlag(fl *pflag.FlagSet, b *optBool, name string, def bool, usage string) {
	b.v = def
	fl.Var(b, name, usage)
	fl.Lookup(name).NoOptDefVal = "true"
}

// durationFlag registers an optDuration with its default.
func durationFlag(fl *pflag.FlagSet, d *optDuration, name string, def time.Duration, usage string) {
	d.v = def
	fl.Var(d, name, usage)
}

// buildsFlags are -a and -i: the built images a command uses.
type buildsFlags struct {
	file   string
	images []string
}

func (f *buildsFlags) add(fl *pflag.FlagSet) {
	fl.StringVarP(&f.file, "build-artifacts", "a", "", "artifacts file of the built images (skiff build --file-output, or skaffold build); - reads standard input")
	fl.StringSliceVarP(&f.images, "images", "i", nil, "built images as NAME=REF, or a bare REF naming itself (repeatable; wins over -a)")
}

// given reports whether -a or -i was given.
func (f *buildsFlags) given() bool { return f.file != "" || len(f.images) > 0 }

// validate checks -i.
func (f *buildsFlags) validate() error {
	if _, err := artifact.ParseImages(f.images); err != nil {
		return &UsageError{Err: err}
	}
	return nil
}

// read reads -a, then -i, which wins for the same image name.
func (f *buildsFlags) read(stdin io.Reader) ([]artifact.Build, error) {
	var file *artifact.File
	if f.file != "" {
		var err error
		if file, err = artifact.ReadFile(f.file, stdin); err != nil {
			return nil, err
		}
	}
	images, err := artifact.ParseImages(f.images)
	if err != nil {
		return nil, &UsageError{Err: err}
	}
	return file.Merge(images).Builds, nil
}

// renderFlags are the flags that shape a render: labels and the digest
// source.
type renderFlags struct {
	labels       []string
	digestSource string
}

func (f *renderFlags) addLabels(fl *pflag.FlagSet) {
	fl.StringSliceVarP(&f.labels, "label", "l", nil, "add a label KEY=VALUE to every object's metadata (repeatable; never to pod templates)")
}

func (f *renderFlags) addDigestSource(fl *pflag.FlagSet) {
	fl.StringVar(&f.digestSource, "digest-source", "", "where image references come from: tag (the builds' references as given; the default), remote (pin tags without a digest to the registry's digest), none (leave the manifests' references as written)")
}

// validate checks the flags; parsed labels are in labelMap.
func (f *renderFlags) validate() error {
	switch render.DigestSource(f.digestSource) {
	case "", render.DigestTag, render.DigestNone, render.DigestRemote:
	case "local":
		return usageError("--digest-source=local builds images, which render does not: run skiff build --file-output=FILE and pass -a FILE")
	default:
		return usageError("--digest-source %q: use tag, remote or none", f.digestSource)
	}
	_, err := f.labelMap()
	return err
}

// labelMap turns -l KEY=VALUE values into a map.
func (f *renderFlags) labelMap() (map[string]string, error) {
	if len(f.labels) == 0 {
		return nil, nil
	}
	labels := map[string]string{}
	for _, v := range f.labels {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return nil, usageError("--label %q: use KEY=VALUE", v)
		}
		labels[k] = val
	}
	return labels, nil
}

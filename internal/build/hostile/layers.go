package hostile

import (
	"archive/tar"
	"strings"
	"testing"
)

func layerCases() []Case {
	return []Case{
		{Name: "device-nodes-from-a-layer", Finding: "2",
			Layer: func(Env) []Entry {
				return []Entry{
					{Header: tar.Header{Name: "kmsg", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 11, Mode: 0o666}},
					{Header: tar.Header{Name: "disk", Typeflag: tar.TypeBlock, Devmajor: 8, Devminor: 0, Mode: 0o666}},
				}
			},
			// Extraction skips them, so neither exists; a device node that
			// were created would open (the probe opens without creating).
			Dockerfile: header + "RUN for d in /kmsg /disk; do [ -c $d -o -b $d ] && echo node$d >> /escaped; " +
				"/probe open $d | grep -q ': ok' && echo open$d >> /escaped; done; true\n",
			Check: noEscape},
		{Name: "extraction-times-through-replaced-parent", Finding: "6",
			Layer: func(e Env) []Entry {
				return []Entry{
					{Header: tar.Header{Name: "p/", Typeflag: tar.TypeDir}},
					{Header: tar.Header{Name: "p/c/", Typeflag: tar.TypeDir}},
					{Header: tar.Header{Name: "p", Typeflag: tar.TypeSymlink, Linkname: e.Sentinel}},
					{Header: tar.Header{Name: "q/", Typeflag: tar.TypeDir}},
					{Header: tar.Header{Name: "q/sub/", Typeflag: tar.TypeDir}},
					{Header: tar.Header{Name: "q", Typeflag: tar.TypeSymlink, Linkname: "../../../../../../../.." + e.Sentinel}},
				}
			},
			Dockerfile: header + "RUN true\n"},
		{Name: "fifo-at-etc-passwd", Finding: "10",
			Layer: func(Env) []Entry {
				return []Entry{{Header: tar.Header{Name: "etc/passwd", Typeflag: tar.TypeFifo, Mode: 0o644}}}
			},
			Dockerfile: header + "USER nobody\nRUN true\n",
			WantErr:    "/etc/passwd is not a regular file", WantLine: 6},
		{Name: "layer-aims-at-the-container", Finding: "escape",
			// What belongs to the container in container mode, written by
			// a layer directly, through a symlink and through a hardlink:
			// skiff's binary, the workspace and the runtime's /etc/hosts.
			Layer: func(Env) []Entry {
				return []Entry{
					{Header: tar.Header{Name: "skiff/skiff"}, Body: "#!/bin/sh\necho replaced\n"},
					{Header: tar.Header{Name: "workspace/hostile/Dockerfile", Mode: 0o644}, Body: "FROM scratch\n"},
					{Header: tar.Header{Name: "etc/hosts", Mode: 0o644}, Body: "198.18.6.6 registry\n"},
					{Header: tar.Header{Name: "w", Typeflag: tar.TypeSymlink, Linkname: "/workspace"}},
					{Header: tar.Header{Name: "w/planted", Mode: 0o644}, Body: "through a symlink\n"},
					{Header: tar.Header{Name: "skiffbin", Typeflag: tar.TypeLink, Linkname: "skiff/skiff"}},
				}
			},
			Dockerfile: header + "RUN echo replaced > /skiffbin 2>/dev/null; true\n",
			Check: func(t *testing.T, img FS, o Outcome, e Env) {
				noEscape(t, img, o, e)
				if got := img["/etc/hosts"].Content; got != "198.18.6.6 registry\n" {
					t.Errorf("/etc/hosts of the image = %q, want the layer's", got)
				}
			}},
		{Name: "base-layer-dot-dot", Finding: "escape",
			Layer: func(Env) []Entry {
				return []Entry{{Header: tar.Header{Name: "../../../../escape", Typeflag: tar.TypeReg, Mode: 0o644}, Body: "x"}}
			},
			Dockerfile: header + "RUN true\n",
			WantErr:    "escapes the root"},
		{Name: "base-layer-links-to-the-host", Finding: "escape",
			Layer: func(e Env) []Entry {
				return []Entry{
					{Header: tar.Header{Name: "hostlink", Typeflag: tar.TypeSymlink, Linkname: e.Sentinel}},
					{Header: tar.Header{Name: "hostlink/from-layer", Typeflag: tar.TypeReg, Mode: 0o644}, Body: "layer"},
					{Header: tar.Header{Name: "rel", Typeflag: tar.TypeSymlink, Linkname: "../../../../../../.." + e.Sentinel}},
				}
			},
			Files: func(Env) map[string]string { return map[string]string{"f": "copied\n"} },
			Dockerfile: header + "RUN mkdir -p /hostlink/ && echo run > /hostlink/from-run\nCOPY f /hostlink/\nCOPY f /rel/copied\n" +
				"RUN cat /hostlink/from-layer /hostlink/f > /read.txt\n",
			Check: func(t *testing.T, img FS, _ Outcome, e Env) {
				for _, p := range []string{"/from-run", "/f", "/copied"} {
					if _, ok := img[e.Sentinel+p]; !ok {
						t.Errorf("%s%s: missing in the image (writes through the link must stay in the root)", e.Sentinel, p)
					}
				}
				if got := img["/read.txt"].Content; got != "layercopied\n" {
					t.Errorf("reading through the link: %q", got)
				}
			}},
	}
}

// Tar returns a tar archive of entries (a layer, or an archive for ADD).
func Tar(entries []Entry) string {
	var b strings.Builder
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := e.Header
		h.Size = int64(len(e.Body))
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o755
		}
		if h.ModTime.IsZero() {
			h.ModTime = old
		}
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			panic(err) // the corpus is static: a bad entry is a bug in this file
		}
		_, _ = tw.Write([]byte(e.Body))
	}
	_ = tw.Close()
	return b.String()
}

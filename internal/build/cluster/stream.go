package cluster

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/patternmatcher"

	"github.com/skiff-dev/skiff/internal/build/dockerfile"
)

// Upload is what a build sends into its pod.
type Upload struct {
	// Files and Bytes count the context's regular files and their size.
	Files int
	Bytes int64
}

// writeStream writes the worker's stdin: the job, the Dockerfile, the
// ignore file in effect, then the entries of the context that the build
// reads and the ignore file does not exclude (owners dropped, modes, times
// and symlinks kept).
func writeStream(ctx context.Context, w io.Writer, job Job, contextDir, dockerfilePath string) (Upload, error) {
	var up Upload
	tw := tar.NewWriter(w)
	now := time.Now()
	b, err := json.Marshal(job)
	if err != nil {
		return up, err
	}
	if err := writeFile(tw, JobFile, b, now); err != nil {
		return up, err
	}
	df, err := os.ReadFile(dockerfilePath)
	if err != nil {
		return up, fmt.Errorf("reading the Dockerfile: %w", err)
	}
	if err := writeFile(tw, DockerfileName, df, now); err != nil {
		return up, err
	}
	patterns, from, err := dockerfile.IgnorePatterns(contextDir, dockerfilePath)
	if err != nil {
		return up, err
	}
	if from != "" {
		ignore, err := os.ReadFile(from)
		if err != nil {
			return up, err
		}
		if err := writeFile(tw, IgnoreFile, ignore, now); err != nil {
			return up, err
		}
	}
	var pm *patternmatcher.PatternMatcher
	if len(patterns) > 0 {
		if pm, err = patternmatcher.New(patterns); err != nil {
			return up, fmt.Errorf("parsing %s: %w", from, err)
		}
	}
	root, err := filepath.EvalSymlinks(contextDir)
	if err != nil {
		return up, fmt.Errorf("build context %s: %w", contextDir, err)
	}
	entries, err := contextEntries(ctx, root, pm, readsMatcher(dockerfilePath, df, job))
	if err != nil {
		return up, err
	}
	for _, e := range entries {
		if err := addEntry(tw, e.name, e.host, e.info, &up); err != nil {
			return up, err
		}
	}
	return up, tw.Close()
}

// readsMatcher names the context paths the build reads (COPY, ADD and RUN
// bind-mount sources of the stages the target needs); nil, meaning the
// whole context, when the Dockerfile does not parse (the pod's builder
// then reports why, as a local build would).
func readsMatcher(file string, content []byte, job Job) *dockerfile.SourceMatcher {
	reads, err := dockerfile.ReadsOf(file, content, dockerfile.Options{Target: job.Target, BuildArgs: job.BuildArgs})
	if err != nil {
		return nil
	}
	m := dockerfile.NewSourceMatcher(reads.Sources())
	if m.All() {
		return nil
	}
	return m
}

type entry struct {
	name, host string
	info       fs.FileInfo
}

// maxLinkRounds bounds following symlinks to targets outside the sources.
const maxLinkRounds = 8

// contextEntries are the entries of the context to send, in walk order:
// what the ignore patterns do not exclude and, when reads is set, only
// what it matches and the directories above that. A symlink among them
// brings its target along (COPY follows a source that is a symlink), so
// the walk repeats while links name paths not yet matched.
func contextEntries(ctx context.Context, root string, pm *patternmatcher.PatternMatcher, reads *dockerfile.SourceMatcher) ([]entry, error) {
	for round := 0; ; round++ {
		entries, links, err := walkContext(ctx, root, pm, reads)
		if err != nil || reads == nil {
			return entries, err
		}
		var more []string
		for _, l := range links {
			if !reads.Matches(l) {
				more = append(more, l)
			}
		}
		if len(more) == 0 || round == maxLinkRounds {
			return entries, nil
		}
		reads.Add(more...)
	}
}

// walkContext is one walk of contextEntries; links are the context paths
// that sent symlinks point to.
func walkContext(ctx context.Context, root string, pm *patternmatcher.PatternMatcher, reads *dockerfile.SourceMatcher) ([]entry, []string, error) {
	var entries []entry
	var links []string
	// pending are the directories above the current entry that may hold a
	// source, sent only once something below them is (the walk is depth
	// first, so they form a path from the root).
	var pending []entry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		name := ContextDir
		matched := true
		if rel != "." {
			name = path.Join(ContextDir, rel)
			if excluded(pm, rel) {
				if d.IsDir() && !pm.Exclusions() {
					return filepath.SkipDir
				}
				if !d.IsDir() {
					return nil
				}
				// An exception (!dir/file) may re-include something below:
				// the directory goes too, as the builder walks it.
			}
			if reads != nil && !reads.Matches(rel) {
				if !d.IsDir() {
					return nil
				}
				if !reads.MayHold(rel) {
					return filepath.SkipDir
				}
				matched = false
			}
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		for len(pending) > 0 && !strings.HasPrefix(name, pending[len(pending)-1].name+"/") {
			pending = pending[:len(pending)-1]
		}
		e := entry{name: name, host: p, info: fi}
		if !matched {
			pending = append(pending, e)
			return nil
		}
		entries = append(entries, pending...)
		pending = pending[:0]
		entries = append(entries, e)
		if fi.Mode()&fs.ModeSymlink != 0 {
			if t, ok := linkTarget(p, rel); ok {
				links = append(links, t)
			}
		}
		return nil
	})
	return entries, links, err
}

// linkTarget is the context path a symlink at rel points to, if it stays in
// the context (an absolute target is taken from the context's root, as
// the builder resolves it).
func linkTarget(host, rel string) (string, bool) {
	l, err := os.Readlink(host)
	if err != nil {
		return "", false
	}
	l = filepath.ToSlash(l)
	if !path.IsAbs(l) {
		l = path.Join(path.Dir(rel), l)
	}
	return dockerfile.CleanSource(l)
}

func excluded(pm *patternmatcher.PatternMatcher, rel string) bool {
	if pm == nil {
		return false
	}
	m, err := pm.MatchesOrParentMatches(rel)
	return err == nil && m
}

// addEntry writes one context entry; sockets, devices and pipes are left
// out (COPY cannot take them either).
func addEntry(tw *tar.Writer, name, host string, fi fs.FileInfo, up *Upload) error {
	link := ""
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		var err error
		if link, err = os.Readlink(host); err != nil {
			return err
		}
	case fi.IsDir(), fi.Mode().IsRegular():
	default:
		return nil
	}
	h, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	h.Name = name
	if fi.IsDir() {
		h.Name += "/"
	}
	h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
	h.Format = tar.FormatPAX
	h.AccessTime, h.ChangeTime = time.Time{}, time.Time{}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(host)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(tw, f)
	if err != nil {
		return fmt.Errorf("sending %s: %w", host, err)
	}
	if n != fi.Size() {
		return fmt.Errorf("sending %s: it changed while being sent", host)
	}
	up.Files++
	up.Bytes += n
	return nil
}

func writeFile(tw *tar.Writer, name string, data []byte, t time.Time) error {
	h := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: t, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// received is what the worker unpacked.
type received struct {
	job        Job
	dockerfile string // path of the Dockerfile
	context    string // the build context directory
}

// maxJob bounds the job entry, which is read into memory.
const maxJob = 1 << 20

// readStream unpacks the worker's stdin into dir, which must be empty. Every
// name must stay inside dir: absolute names, "..", and writes through
// symlinks are refused (os.Root), as are entry types other than files,
// directories and symlinks.
func readStream(r io.Reader, dir string) (*received, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	tr := tar.NewReader(r)
	got := &received{dockerfile: filepath.Join(dir, DockerfileName), context: filepath.Join(dir, ContextDir)}
	haveJob, haveContext := false, false
	type dirTime struct {
		name string
		t    time.Time
	}
	var dirs []dirTime
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the build stream: %w", err)
		}
		name, err := entryName(h.Name)
		if err != nil {
			return nil, err
		}
		if !haveJob {
			if name != JobFile || h.Typeflag != tar.TypeReg || h.Size > maxJob {
				return nil, fmt.Errorf("the build stream does not start with %s", JobFile)
			}
			if err := json.NewDecoder(io.LimitReader(tr, maxJob)).Decode(&got.job); err != nil {
				return nil, fmt.Errorf("reading %s: %w", JobFile, err)
			}
			haveJob = true
			continue
		}
		if name != DockerfileName && name != IgnoreFile && name != ContextDir && !strings.HasPrefix(name, ContextDir+"/") {
			return nil, fmt.Errorf("unexpected entry %q in the build stream", h.Name)
		}
		haveContext = haveContext || name == ContextDir
		mode := fs.FileMode(h.Mode).Perm() | fs.FileMode(h.Mode)&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return nil, err
			}
			if err := root.Chmod(name, mode|0o700); err != nil {
				return nil, err
			}
			dirs = append(dirs, dirTime{name, h.ModTime})
		case tar.TypeReg:
			f, err := root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return nil, err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = root.Chmod(name, mode)
			}
			if err == nil {
				err = root.Chtimes(name, h.ModTime, h.ModTime)
			}
			if err != nil {
				return nil, fmt.Errorf("unpacking %s: %w", name, err)
			}
		case tar.TypeSymlink:
			if err := root.Symlink(h.Linkname, name); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("entry %q of the build stream: type %q is not a file, directory or symlink", h.Name, h.Typeflag)
		}
	}
	if !haveJob {
		return nil, fmt.Errorf("the build stream is empty")
	}
	if _, err := root.Stat(DockerfileName); err != nil || !haveContext {
		return nil, fmt.Errorf("the build stream has no Dockerfile or no context")
	}
	// Directory times last: adding to a directory changes its time.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := root.Chtimes(dirs[i].name, dirs[i].t, dirs[i].t); err != nil {
			return nil, err
		}
	}
	return got, nil
}

// entryName cleans a tar entry's name and refuses one that leaves the
// directory.
func entryName(n string) (string, error) {
	c := path.Clean(strings.TrimSuffix(n, "/"))
	if n == "" || path.IsAbs(n) || c == ".." || strings.HasPrefix(c, "../") || c == "." {
		return "", fmt.Errorf("entry %q of the build stream leaves its directory", n)
	}
	return c, nil
}

package dockerbuild

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/patternmatcher"
	"golang.org/x/sync/errgroup"

	"github.com/skiff-dev/skiff/internal/build/cache"
	"github.com/skiff-dev/skiff/internal/build/sandbox"
	"github.com/skiff-dev/skiff/internal/build/snapshot"
)

type copyParams struct {
	sd       instructions.SourcesAndDest
	add      bool
	from     string
	chown    string
	chmod    string
	link     bool
	exclude  []string
	checksum string
}

// fromSource resolves a --from value to a built stage or a pulled image.
func (b *builder) fromSource(ctx context.Context, ref string) (*stageState, error) {
	if st, ok := b.plan.StageFor(ref); ok {
		if err := b.waitStage(ctx, st.Index); err != nil {
			return nil, err
		}
		return b.stages[st.Index], nil
	}
	b.mu.Lock()
	s, ok := b.images[ref]
	b.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err := b.pullStage(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("--from=%s: %w", ref, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if prev, ok := b.images[ref]; ok {
		return prev, nil // another stage got there first
	}
	b.images[ref] = s
	return s, nil
}

// destination returns the absolute destination and whether it names a
// directory.
func destination(wd, dest string, sources int) (string, bool, error) {
	isDir := strings.HasSuffix(dest, "/") || dest == "." || dest == ""
	if wd == "" {
		wd = "/"
	}
	if !path.IsAbs(dest) {
		dest = path.Join(wd, dest)
	}
	dest = path.Clean(dest)
	if sources > 1 && !isDir {
		return "", false, fmt.Errorf("with more than one source file, the destination must be a directory and end with a /")
	}
	return dest, isDir, nil
}

func parseChmod(s string) (*uint32, error) {
	if s == "" {
		return nil, nil
	}
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o7777 {
		return nil, fmt.Errorf("invalid --chmod=%s: it must be an octal mode between 0 and 7777", s)
	}
	v := uint32(m)
	return &v, nil
}

// resolveChown resolves --chown against the destination's /etc/passwd and
// /etc/group. Without a group, the group id is the user id (Docker's rule).
func resolveChown(root, chown string) (*[2]int, error) {
	if chown == "" {
		return nil, nil
	}
	u, err := sandbox.ResolveUser(root, chown)
	if err != nil {
		return nil, fmt.Errorf("--chown=%s: %w", chown, err)
	}
	gid := int(u.UID)
	if strings.Contains(chown, ":") {
		gid = int(u.GID)
	}
	return &[2]int{int(u.UID), gid}, nil
}

func chownByName(chown string) bool {
	for _, part := range strings.Split(chown, ":") {
		if _, err := strconv.Atoi(part); err != nil && part != "" {
			return true
		}
	}
	return false
}

// copy runs COPY or ADD.
func (b *builder) copy(ctx context.Context, s *stageState, c instructions.Command, p copyParams) error {
	kind := "COPY"
	if p.add {
		kind = "ADD"
	}
	dest, destIsDir, err := destination(s.cf.Config.WorkingDir, p.sd.DestPath, len(p.sd.SourcePaths)+len(p.sd.SourceContents))
	if err != nil {
		return err
	}
	chmod, err := parseChmod(p.chmod)
	if err != nil {
		return err
	}
	if p.link && chownByName(p.chown) {
		return fmt.Errorf("--chown=%s: user and group names cannot be resolved with --link; use numeric ids", p.chown)
	}
	if p.checksum != "" && !p.add {
		return fmt.Errorf("--checksum is only valid for ADD")
	}
	var exclude *patternmatcher.PatternMatcher
	if len(p.exclude) > 0 {
		if exclude, err = patternmatcher.New(p.exclude); err != nil {
			return fmt.Errorf("--exclude: %w", err)
		}
	}
	kb := cache.NewKey(kind).String("dest", dest).String("destIsDir", strconv.FormatBool(destIsDir)).
		String("chown", p.chown).String("chmod", p.chmod).Strings("exclude", p.exclude).String("link", strconv.FormatBool(p.link))
	if !p.link {
		kb.Key("parent", s.key)
	}
	var from *stageState
	var items []item
	var archives []bool
	if p.from != "" {
		if from, err = b.fromSource(ctx, p.from); err != nil {
			return err
		}
		ids, err := from.diffIDs()
		if err != nil {
			return err
		}
		kb.Strings("from", ids).Strings("sources", p.sd.SourcePaths)
	} else {
		if items, err = b.contextItems(ctx, p, exclude); err != nil {
			return err
		}
		if len(items) > 1 && !destIsDir {
			return fmt.Errorf("with more than one source file, the destination must be a directory and end with a /")
		}
		for _, it := range items {
			isArchive := p.add && !it.isDir && !it.remote && isLocalArchive(it.host)
			archives = append(archives, isArchive)
		}
		sum, err := b.itemsKey(items)
		if err != nil {
			return err
		}
		kb.String("items", sum).String("archives", fmt.Sprint(archives))
	}
	key := kb.Sum()
	createdBy := kind + " " + strings.TrimPrefix(instructionText(c), strings.ToUpper(c.Name())+" ")

	fill := func(root string) error {
		chown, err := resolveChown(root, p.chown)
		if err != nil {
			return err
		}
		cp := &copier{root: root, chown: chown, resetOwner: from == nil, chmod: chmod, xattrs: from != nil,
			devices: b.opts.Allow.DeviceNodes, links: map[[2]uint64]string{}, protect: b.protection()}
		if from != nil {
			return b.copyFromStage(ctx, from, p, exclude, cp, dest, destIsDir)
		}
		for i, it := range items {
			if archives[i] {
				if err := extractArchive(ctx, it.host, root, dest, chown, cp); err != nil {
					return fmt.Errorf("%s: %w", it.name, err)
				}
				continue
			}
			if err := cp.copyItem(it, dest, destIsDir); err != nil {
				return err
			}
		}
		return nil
	}
	return b.layerStep(ctx, s, c, key, createdBy, func(w io.Writer) (snapshot.Diff, bool, error) {
		if p.link {
			snap, err := b.newSnapshotter()
			if err != nil {
				return snapshot.Diff{}, false, err
			}
			defer snap.Close()
			diff, err := snap.Change(ctx, fill, w)
			return diff, false, err
		}
		snap, err := b.snapshotter(s)
		if err != nil {
			return snapshot.Diff{}, false, err
		}
		diff, err := snap.Change(ctx, fill, w)
		return diff, true, err
	})
}

// contextItems matches the COPY/ADD sources in the build context, plus
// downloads and heredocs, which are written to scratch directories.
func (b *builder) contextItems(ctx context.Context, p copyParams, exclude *patternmatcher.PatternMatcher) ([]item, error) {
	var items []item
	for _, src := range p.sd.SourcePaths {
		switch {
		case strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://"):
			if !p.add {
				return nil, fmt.Errorf("COPY cannot copy from a URL (%s); use ADD", src)
			}
			if strings.HasSuffix(src, ".git") || strings.Contains(src, ".git#") {
				return nil, fmt.Errorf("ADD from a git repository (%s) is not supported", src)
			}
			it, err := b.download(ctx, src, p.checksum)
			if err != nil {
				return nil, err
			}
			items = append(items, it)
			continue
		case strings.HasPrefix(src, "git@"):
			return nil, fmt.Errorf("ADD from a git repository (%s) is not supported", src)
		}
		matches, err := b.ctxSrc.match(src)
		if err != nil {
			return nil, err
		}
		for _, m := range matches {
			it, err := b.ctxSrc.collect(m)
			if err != nil {
				return nil, err
			}
			items = append(items, filterItem(it, exclude))
		}
	}
	for _, sc := range p.sd.SourceContents {
		it, err := b.heredoc(sc)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, nil
}

// copyFromStage copies out of another stage's (or image's) filesystem.
func (b *builder) copyFromStage(ctx context.Context, from *stageState, p copyParams, exclude *patternmatcher.PatternMatcher, cp *copier, dest string, destIsDir bool) error {
	lock := b.sourceLock(from)
	lock.Lock()
	defer lock.Unlock()
	snap, err := b.snapshotter(from)
	if err != nil {
		return err
	}
	return snap.View(ctx, func(sroot string) error {
		src := newRootSource(sroot)
		var items []item
		for _, pat := range p.sd.SourcePaths {
			matches, err := src.match(pat)
			if err != nil {
				return err
			}
			for _, m := range matches {
				it, err := src.collect(m)
				if err != nil {
					return fmt.Errorf("--from=%s: %w", p.from, err)
				}
				items = append(items, filterItem(it, exclude))
			}
		}
		if len(items) > 1 && !destIsDir {
			return fmt.Errorf("with more than one source file, the destination must be a directory and end with a /")
		}
		for _, it := range items {
			if err := cp.copyItem(it, dest, destIsDir); err != nil {
				return err
			}
		}
		return nil
	})
}

// filterItem drops entries matching --exclude patterns.
func filterItem(it item, exclude *patternmatcher.PatternMatcher) item {
	if exclude == nil {
		return it
	}
	out := it.entries[:1]
	for _, e := range it.entries[1:] {
		if m, err := exclude.MatchesOrParentMatches(e.rel); err == nil && m {
			continue
		}
		out = append(out, e)
	}
	it.entries = out
	return it
}

// itemsKey digests what a COPY reads from the context: every path with its
// type, permissions, link target and content hash. Files are hashed in
// parallel, each at most once per build.
func (b *builder) itemsKey(items []item) (string, error) {
	hashes := make([][]string, len(items))
	var g errgroup.Group
	g.SetLimit(4)
	for i, it := range items {
		hashes[i] = make([]string, len(it.entries))
		for j, e := range it.entries {
			if !e.fi.Mode().IsRegular() {
				continue
			}
			g.Go(func() error {
				h, err := b.ctxSrc.hash(e.host)
				hashes[i][j] = h
				return err
			})
		}
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	kb := cache.NewKey("items")
	for i, it := range items {
		kb.String("item", it.name).String("dir", strconv.FormatBool(it.isDir))
		for j, e := range it.entries {
			link, size := "", int64(0)
			switch {
			case e.fi.Mode()&fs.ModeSymlink != 0:
				link, _ = os.Readlink(e.host)
			case e.fi.Mode().IsRegular():
				size = e.fi.Size()
			}
			kb.Strings("entry", []string{e.rel, strconv.FormatUint(uint64(e.fi.Mode()), 8), strconv.FormatInt(size, 10), link, hashes[i][j]})
		}
	}
	return kb.Sum().String(), nil
}

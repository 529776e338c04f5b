package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// hierarchy is one mounted cgroup hierarchy: a v1 controller set (cpu,
// memory, name=systemd, …) or the v2 unified tree.
type hierarchy struct {
	mountPoint string
	v2         bool
	options    []string
}

func (h hierarchy) has(controller string) bool { return slices.Contains(h.options, controller) }

// cgroupHierarchies lists the cgroup mounts of this mount namespace. Only
// hierarchies mounted at their root are used: a cgroup the sandbox creates
// lives at the top of each, whatever cgroup the caller itself is in.
func cgroupHierarchies() ([]hierarchy, error) {
	mounts, err := readMountinfo("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var hs []hierarchy
	seen := map[string]bool{}
	for _, m := range mounts {
		if (m.fsType != "cgroup" && m.fsType != "cgroup2") || m.root != "/" || seen[m.mountPoint] {
			continue
		}
		seen[m.mountPoint] = true
		hs = append(hs, hierarchy{mountPoint: m.mountPoint, v2: m.fsType == "cgroup2", options: strings.Split(m.superOptions, ",")})
	}
	if len(hs) == 0 {
		return nil, errors.New("no cgroup hierarchy is mounted")
	}
	return hs, nil
}

// validCgroupName keeps cgroup arguments to one plain top-level name, so a
// typo cannot make cgroup-remove walk someone else's tree.
func validCgroupName(name string) error {
	if name == "" || strings.ContainsAny(name, "/.") || !strings.HasPrefix(name, "skiff-") {
		return fmt.Errorf("cgroup name %q: want a top-level name starting with skiff-", name)
	}
	return nil
}

// runCgroupCreate creates NAME and NAME/node in every cgroup v1 hierarchy
// (the kubelet's cgroupRoot must exist in each controller), copying the
// parent's cpus and mems into new cpuset groups, which start empty. It
// prints the NAME/node directories, one per line, for the node's processes
// to join.
func runCgroupCreate(_ context.Context, args []string) error {
	fset := newFlags("cgroup-create")
	name := fset.String("name", "", "top-level cgroup name")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if err := validCgroupName(*name); err != nil {
		return err
	}
	hs, err := cgroupHierarchies()
	if err != nil {
		return err
	}
	var dirs []string
	for _, h := range hs {
		if h.v2 {
			continue
		}
		parent := h.mountPoint
		for _, sub := range []string{*name, "node"} {
			dir := filepath.Join(parent, sub)
			if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			if h.has("cpuset") {
				for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
					if err := copyIfEmpty(filepath.Join(parent, f), filepath.Join(dir, f)); err != nil {
						return err
					}
				}
			}
			parent = dir
		}
		dirs = append(dirs, parent)
	}
	if len(dirs) == 0 {
		return errors.New("no cgroup v1 hierarchy is mounted (the real node expects a cgroup v1 or hybrid machine)")
	}
	for _, d := range dirs {
		fmt.Println(d)
	}
	return nil
}

func copyIfEmpty(from, to string) error {
	cur, err := os.ReadFile(to)
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(cur)) != "" {
		return nil
	}
	val, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, val, 0o644)
}

// runCgroupRemove kills every process in the cgroup tree NAME and removes
// the tree from every hierarchy. On v1 it freezes the tree first so nothing
// forks while it is being killed; it waits until each group is empty, since
// a killed process leaves its cgroup only once it has exited.
func runCgroupRemove(ctx context.Context, args []string) error {
	fset := newFlags("cgroup-remove")
	name := fset.String("name", "", "top-level cgroup name")
	timeout := fset.Duration("timeout", 30*time.Second, "how long to wait for the processes to exit")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if err := validCgroupName(*name); err != nil {
		return err
	}
	hs, err := cgroupHierarchies()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	var roots []string
	var freezer string
	for _, h := range hs {
		root := filepath.Join(h.mountPoint, *name)
		if _, err := os.Stat(root); err != nil {
			continue
		}
		roots = append(roots, root)
		if h.has("freezer") {
			freezer = root
		}
	}
	if freezer != "" {
		if err := os.WriteFile(filepath.Join(freezer, "freezer.state"), []byte("FROZEN"), 0o644); err != nil {
			return fmt.Errorf("freezing %s: %w", freezer, err)
		}
	}
	for {
		pids, err := cgroupPids(roots)
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if freezer != "" {
			// Killed tasks die only once thawed; freeze again on the next
			// round in case one forked before the kill arrived.
			_ = os.WriteFile(filepath.Join(freezer, "freezer.state"), []byte("THAWED"), 0o644)
		}
		if sleep(ctx, 50*time.Millisecond) != nil {
			return fmt.Errorf("processes %v of cgroup %s did not exit within %s", pids, *name, *timeout)
		}
		if freezer != "" {
			_ = os.WriteFile(filepath.Join(freezer, "freezer.state"), []byte("FROZEN"), 0o644)
		}
	}
	if freezer != "" {
		_ = os.WriteFile(filepath.Join(freezer, "freezer.state"), []byte("THAWED"), 0o644)
	}
	for _, root := range roots {
		if err := removeTree(ctx, root); err != nil {
			return err
		}
	}
	return nil
}

// cgroupPids lists the processes in every cgroup under roots.
func cgroupPids(roots []string) ([]int, error) {
	seen := map[int]bool{}
	var pids []int
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if !d.IsDir() {
				return nil
			}
			f, err := os.Open(filepath.Join(p, "cgroup.procs"))
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if pid, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil && !seen[pid] {
					seen[pid] = true
					pids = append(pids, pid)
				}
			}
			return sc.Err()
		})
		if err != nil {
			return nil, err
		}
	}
	return pids, nil
}

// removeTree removes a cgroup directory and its children, deepest first. A
// cgroup directory cannot be emptied with unlink, only removed with rmdir
// once it has no children and no tasks; EBUSY right after the last task
// exited is retried.
func removeTree(ctx context.Context, root string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		for {
			err := syscall.Rmdir(dirs[i])
			if err == nil || errors.Is(err, syscall.ENOENT) {
				break
			}
			if !errors.Is(err, syscall.EBUSY) || sleep(ctx, 50*time.Millisecond) != nil {
				return fmt.Errorf("removing cgroup %s: %w", dirs[i], err)
			}
		}
	}
	return nil
}

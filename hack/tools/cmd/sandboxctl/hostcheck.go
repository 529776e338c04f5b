package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The real node is started and stopped without changing the host: these
// commands record what a sandbox could change (sysctls, firewall rules,
// routes of the machine's own interfaces) before the node starts, and check
// after `down` that it is unchanged and that nothing of the node is left:
// no bridge or veth, cgroup, mount, namespace or process.

// hostStateVersion changes when hostState's contents change meaning: a
// snapshot of another version is not compared (leftovers still are).
const hostStateVersion = 2

// hostState is what host-snapshot records.
// sandboxBridgePrefix starts the name of every sandbox's node bridge
// (hack/testenv.d/node.bash: skf<id>).
const sandboxBridgePrefix = "skf"

type hostState struct {
	Version  int               `json:"version"`
	Sysctls  map[string]string `json:"sysctls"`
	Volatile []string          `json:"volatile"`
	Firewall map[string]string `json:"firewall"`
	Links    []string          `json:"links"`
	Routes   []string          `json:"routes"`
}

// nodeRefs is what node-refs records of a running node just before it is
// stopped: the kernel objects that must be gone afterwards.
type nodeRefs struct {
	Namespaces []string `json:"namespaces"` // "net:[4026532…]", "mnt:[…]"
	Links      []string `json:"links"`      // the bridge and its veths
}

// volatileSysctls change on their own, whatever the sandbox does.
var volatileSysctls = []string{
	"fs.dentry-state", "fs.file-nr", "fs.inode-nr", "fs.inode-state", "fs.aio-nr",
	"kernel.ns_last_pid", "kernel.random.", "kernel.pty.nr", "fs.quota.",
	"net.netfilter.nf_conntrack_count", "kernel.hung_task_detect_count",
}

func runHostSnapshot(ctx context.Context, args []string) error {
	fset := newFlags("host-snapshot")
	out := fset.String("o", "", "file to write")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("-o is required")
	}
	st, err := snapshotHost(ctx)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(*out, data, 0o644)
}

func snapshotHost(ctx context.Context) (*hostState, error) {
	first, err := readSysctls()
	if err != nil {
		return nil, err
	}
	// Anything that changes within a moment is a counter, not a setting.
	if err := sleep(ctx, 300*time.Millisecond); err != nil {
		return nil, err
	}
	second, err := readSysctls()
	if err != nil {
		return nil, err
	}
	st := &hostState{Version: hostStateVersion, Sysctls: second, Firewall: firewallRules(ctx)}
	for k, v := range second {
		if first[k] != v {
			st.Volatile = append(st.Volatile, k)
		}
	}
	slices.Sort(st.Volatile)
	if st.Links, err = links(); err != nil {
		return nil, err
	}
	if st.Routes, err = routes(st.Links); err != nil {
		return nil, err
	}
	return st, nil
}

// readSysctls reads every readable file under /proc/sys, like sysctl -a.
func readSysctls() (map[string]string, error) {
	vals := map[string]string{}
	err := filepath.WalkDir("/proc/sys", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable directories are not settings we can compare
		}
		if d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil // write-only or permission-denied entries
		}
		key := strings.ReplaceAll(strings.TrimPrefix(p, "/proc/sys/"), "/", ".")
		vals[key] = strings.TrimSpace(string(data))
		return nil
	})
	return vals, err
}

// firewallRules records the rules of whichever firewall tools the machine
// has, and the kernel's list of loaded iptables tables, which exists even
// without the tools once a table is in use.
func firewallRules(ctx context.Context) map[string]string {
	rules := map[string]string{}
	for _, cmd := range [][]string{{"iptables-save"}, {"ip6tables-save"}, {"nft", "list", "ruleset"}} {
		path, err := exec.LookPath(cmd[0])
		if err != nil {
			continue
		}
		out, err := exec.CommandContext(ctx, path, cmd[1:]...).Output()
		if err != nil {
			rules[cmd[0]] = "error: " + err.Error()
			continue
		}
		// iptables-save prints the time it ran in comments.
		var keep []string
		for line := range strings.Lines(string(out)) {
			if !strings.HasPrefix(line, "#") {
				keep = append(keep, line)
			}
		}
		rules[strings.Join(cmd, " ")] = strings.Join(keep, "")
	}
	for _, f := range []string{"/proc/net/ip_tables_names", "/proc/net/ip6_tables_names"} {
		if data, err := os.ReadFile(f); err == nil {
			rules[f] = string(data)
		}
	}
	return rules
}

func links() ([]string, error) {
	entries, err := os.ReadDir("/sys/class/net")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, nil
}

// routes lists the IPv4 and IPv6 routes through the given interfaces, as
// "iface destination gateway flags metric mask" (IPv4) and "iface dest/plen
// src/plen next-hop metric flags" (IPv6), without the kernel's reference
// and use counters. A sandbox's own bridge adds a route of its own, which
// goes with the bridge.
func routes(ifaces []string) ([]string, error) {
	var out []string
	for _, f := range []struct {
		path   string
		fields int
		route  func([]string) (iface, route string)
	}{
		// Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT
		{"/proc/net/route", 11, func(f []string) (string, string) {
			return f[0], strings.Join([]string{f[0], f[1], f[2], f[3], f[6], f[7]}, " ")
		}},
		// dest plen src plen next-hop metric refcnt use flags iface
		{"/proc/net/ipv6_route", 10, func(f []string) (string, string) {
			return f[9], strings.Join([]string{f[9], f[0] + "/" + f[1], f[2] + "/" + f[3], f[4], f[5], f[8]}, " ")
		}},
	} {
		data, err := os.ReadFile(f.path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
		for line := range strings.Lines(string(data)) {
			fields := strings.Fields(line)
			if len(fields) < f.fields || fields[0] == "Iface" {
				continue
			}
			if iface, r := f.route(fields); slices.Contains(ifaces, iface) {
				out = append(out, r)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// runNodeRefs records the namespaces of the processes in cgroup NAME and the
// interfaces of bridge BRIDGE (the bridge and its ports).
func runNodeRefs(_ context.Context, args []string) error {
	fset := newFlags("node-refs")
	name := fset.String("cgroup", "", "top-level cgroup of the node")
	bridge := fset.String("bridge", "", "the node's bridge")
	out := fset.String("o", "", "file to write")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if err := validCgroupName(*name); err != nil {
		return err
	}
	if *bridge == "" || *out == "" {
		return errors.New("-bridge and -o are required")
	}
	refs := nodeRefs{}
	hs, err := cgroupHierarchies()
	if err != nil {
		return err
	}
	var roots []string
	for _, h := range hs {
		roots = append(roots, filepath.Join(h.mountPoint, *name))
	}
	pids, err := cgroupPids(roots)
	if err != nil {
		return err
	}
	self, _ := os.Readlink("/proc/self/ns/net")
	selfMnt, _ := os.Readlink("/proc/self/ns/mnt")
	for _, pid := range pids {
		for _, ns := range []string{"net", "mnt"} {
			l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
			if err != nil || l == self || l == selfMnt || slices.Contains(refs.Namespaces, l) {
				continue
			}
			refs.Namespaces = append(refs.Namespaces, l)
		}
	}
	if _, err := os.Stat("/sys/class/net/" + *bridge); err == nil {
		refs.Links = append(refs.Links, *bridge)
		ports, _ := os.ReadDir("/sys/class/net/" + *bridge + "/brif")
		for _, p := range ports {
			refs.Links = append(refs.Links, p.Name())
		}
	}
	data, err := json.MarshalIndent(refs, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(*out, data, 0o644)
}

// runHostCheck compares the host with a snapshot taken before the node
// started and checks that nothing of the node is left. It prints one line
// per finding and fails if there is any.
func runHostCheck(ctx context.Context, args []string) error {
	fset := newFlags("host-check")
	before := fset.String("before", "", "snapshot written by host-snapshot")
	refsFile := fset.String("refs", "", "file written by node-refs (optional)")
	name := fset.String("cgroup", "", "top-level cgroup of the node")
	bridge := fset.String("bridge", "", "the node's bridge")
	dir := fset.String("path", "", "the node's state directory")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if err := validCgroupName(*name); err != nil {
		return err
	}
	if *before == "" || *bridge == "" || *dir == "" {
		return errors.New("-before, -cgroup, -bridge and -path are required")
	}
	var was hostState
	if err := readJSON(*before, &was); err != nil {
		return err
	}
	var refs nodeRefs
	if *refsFile != "" {
		if err := readJSON(*refsFile, &refs); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	now, err := snapshotHost(ctx)
	if err != nil {
		return err
	}
	var findings []string
	if was.Version == hostStateVersion {
		findings = compareHost(&was, now)
	} else {
		fmt.Fprintf(os.Stderr, "%s was written by another sandboxctl (version %d, not %d): checking leftovers only\n", *before, was.Version, hostStateVersion)
	}
	more, err := leftovers(*name, append(refs.Links, *bridge), refs.Namespaces, *dir, now.Links)
	if err != nil {
		return err
	}
	findings = append(findings, more...)
	for _, f := range findings {
		fmt.Println(f)
	}
	if len(findings) > 0 {
		return fmt.Errorf("%d things differ from before the node started or are left over (listed above)", len(findings))
	}
	return nil
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// compareHost reports sysctls, firewall rules and routes of pre-existing
// interfaces that differ. Interfaces that came or went (this sandbox's,
// or another sandbox's running at the same time) carry their own sysctls;
// those are skipped here, and leftovers checks this sandbox's links by name.
// So are the bridges of other sandboxes that ran all along: their own
// CNI configures them (accept_ra goes to 0 with the first pod), and their
// own teardown checks them.
func compareHost(was, now *hostState) []string {
	var out []string
	stable := func(iface string) bool {
		if strings.HasPrefix(iface, sandboxBridgePrefix) {
			return false
		}
		return iface == "all" || iface == "default" || (slices.Contains(was.Links, iface) && slices.Contains(now.Links, iface))
	}
	keys := map[string]bool{}
	for k := range was.Sysctls {
		keys[k] = true
	}
	for k := range now.Sysctls {
		keys[k] = true
	}
	var sorted []string
	for k := range keys {
		sorted = append(sorted, k)
	}
	slices.Sort(sorted)
	for _, k := range sorted {
		if isVolatile(k, was.Volatile) || isVolatile(k, now.Volatile) {
			continue
		}
		if iface, ok := sysctlInterface(k); ok && !stable(iface) {
			continue
		}
		a, aok := was.Sysctls[k]
		b, bok := now.Sysctls[k]
		switch {
		case aok && !bok:
			out = append(out, fmt.Sprintf("sysctl %s: was %q, now gone", k, a))
		case !aok && bok:
			out = append(out, fmt.Sprintf("sysctl %s: new, %q", k, b))
		case a != b:
			out = append(out, fmt.Sprintf("sysctl %s: was %q, now %q", k, a, b))
		}
	}
	for k := range keys2(was.Firewall, now.Firewall) {
		if was.Firewall[k] != now.Firewall[k] {
			out = append(out, fmt.Sprintf("firewall (%s) changed", k))
		}
	}
	both := func(r string) bool {
		i := routeIface(r)
		return slices.Contains(was.Links, i) && slices.Contains(now.Links, i)
	}
	wasRoutes := slices.DeleteFunc(slices.Clone(was.Routes), func(r string) bool { return !both(r) })
	nowRoutes := slices.DeleteFunc(slices.Clone(now.Routes), func(r string) bool { return !both(r) })
	if !slices.Equal(wasRoutes, nowRoutes) {
		out = append(out, fmt.Sprintf("routes of the machine's interfaces changed: was %q, now %q", wasRoutes, nowRoutes))
	}
	return out
}

func keys2(a, b map[string]string) map[string]bool {
	k := map[string]bool{}
	for x := range a {
		k[x] = true
	}
	for x := range b {
		k[x] = true
	}
	return k
}

// routeIface is the interface of a route line written by routes.
func routeIface(r string) string {
	iface, _, _ := strings.Cut(r, " ")
	return iface
}

func isVolatile(key string, measured []string) bool {
	if slices.Contains(measured, key) {
		return true
	}
	for _, p := range volatileSysctls {
		if key == p || (strings.HasSuffix(p, ".") && strings.HasPrefix(key, p)) {
			return true
		}
	}
	return false
}

// sysctlInterface returns the interface of a per-interface sysctl such as
// net.ipv4.conf.eth0.forwarding or net.ipv6.neigh.lo.retrans_time.
func sysctlInterface(key string) (string, bool) {
	for _, p := range []string{"net.ipv4.conf.", "net.ipv6.conf.", "net.ipv4.neigh.", "net.ipv6.neigh.", "net.mpls.conf."} {
		if rest, ok := strings.CutPrefix(key, p); ok {
			iface, _, _ := strings.Cut(rest, ".")
			return iface, true
		}
	}
	return "", false
}

// leftovers reports what of the node still exists: its cgroup in any
// hierarchy, its links, mounts under its directory, references to its
// namespaces (a process in them, an open descriptor, a bind mount), and
// processes running from its directory.
func leftovers(name string, nodeLinks, namespaces []string, dir string, nowLinks []string) ([]string, error) {
	var out []string
	hs, err := cgroupHierarchies()
	if err != nil {
		return nil, err
	}
	for _, h := range hs {
		if _, err := os.Stat(filepath.Join(h.mountPoint, name)); err == nil {
			out = append(out, "cgroup left: "+filepath.Join(h.mountPoint, name))
		}
	}
	for _, l := range nodeLinks {
		if slices.Contains(nowLinks, l) {
			out = append(out, "network interface left: "+l)
		}
	}
	mounts, err := readMountinfo("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	for _, m := range mounts {
		if within(m.mountPoint, dir) || within(m.source, dir) || strings.Contains(m.superOptions, dir) {
			out = append(out, "mount left: "+m.mountPoint)
		}
		// An nsfs mount's root reads like a /proc/PID/ns link: "net:[4026532…]".
		if m.fsType == "nsfs" && slices.Contains(namespaces, m.root) {
			out = append(out, fmt.Sprintf("namespace %s still bind-mounted at %s", m.root, m.mountPoint))
		}
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		base := "/proc/" + p.Name()
		cmdline, _ := os.ReadFile(base + "/cmdline")
		exe, _ := os.Readlink(base + "/exe")
		if within(exe, dir) || bytes.Contains(cmdline, []byte(dir+"/")) {
			out = append(out, fmt.Sprintf("process left: %d %s", pid, strings.ReplaceAll(string(bytes.TrimRight(cmdline, "\x00")), "\x00", " ")))
		}
		for _, ns := range []string{"net", "mnt"} {
			if l, err := os.Readlink(base + "/ns/" + ns); err == nil && slices.Contains(namespaces, l) {
				out = append(out, fmt.Sprintf("process %d is still in namespace %s", pid, l))
			}
		}
		fds, _ := os.ReadDir(base + "/fd")
		for _, fd := range fds {
			if l, err := os.Readlink(base + "/fd/" + fd.Name()); err == nil && slices.Contains(namespaces, l) {
				out = append(out, fmt.Sprintf("process %d holds namespace %s open", pid, l))
			}
		}
	}
	return out, nil
}

func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}

type mountInfo struct {
	root, mountPoint, fsType, source, superOptions string
}

// readMountinfo parses /proc/PID/mountinfo (proc(5)).
func readMountinfo(path string) ([]mountInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mountInfo
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if sep < 6 || len(fields) < sep+4 {
			continue
		}
		out = append(out, mountInfo{
			root:         unescapeMount(fields[3]),
			mountPoint:   unescapeMount(fields[4]),
			fsType:       fields[sep+1],
			source:       unescapeMount(fields[sep+2]),
			superOptions: fields[sep+3],
		})
	}
	return out, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes of space, tab, newline and
// backslash.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

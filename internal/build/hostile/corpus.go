package hostile

import (
	"archive/tar"
	"strings"
	"testing"
	"time"
)

// Env is what a case's build sees of the test machine. Every value is
// also a build arg of the case's Dockerfile (ARG SENTINEL and so on).
type Env struct {
	// Sentinel is a host directory tree the build must leave unchanged.
	Sentinel string
	// HostAddr is host:port of a listener on the host's 127.0.0.1 that RUN
	// must not reach (HOSTADDR), HostPort its port (HOSTPORT).
	HostAddr, HostPort string
	// NetnsAddr is ip:port of a server in a network namespace the test
	// created (198.19.0.0/16), which RUN reaches through its user-mode
	// network stack (NSADDR).
	NetnsAddr string
	// URL is the base URL of a file server on the host's loopback for ADD
	// <url> (URL); it serves /archive.tar.
	URL string
}

// Entry is one entry of a crafted layer.
type Entry struct {
	Header tar.Header
	Body   string
}

// Case is one hostile input.
type Case struct {
	// Name says what is attacked; Finding is the issue-10 finding (1-10)
	// or "escape" for the older escape tests.
	Name, Finding string
	// Dockerfile is the Dockerfile; its base is ARG BASE (the sandbox's
	// busybox, or that plus Layer).
	Dockerfile string
	// Files are further context files; a value "->target" is a symlink.
	// The probe is always in the context as "probe".
	Files func(e Env) map[string]string
	// Layer, when set, is a crafted layer appended to the sandbox base;
	// the result is pushed and passed as BASE.
	Layer func(e Env) []Entry
	// WantErr is a part of the one-line error a refused build must fail
	// with; empty means the build must succeed.
	WantErr string
	// WantLine is the Dockerfile line the error must name (0: none).
	WantLine int
	// Check inspects a successful build's image.
	Check func(t *testing.T, img FS, o Outcome, e Env)
	// NotIn lists modes the case does not apply to, with the reason.
	NotIn map[string]string
}

const header = "ARG BASE\nFROM $BASE\nARG SENTINEL HOSTADDR HOSTPORT NSADDR URL\nCOPY probe /probe\n"

// old is the time of every sentinel entry and crafted layer entry.
var old = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)

// Cases returns the corpus: every finding of issue 10 plus the escape
// tests that came before it.
func Cases() []Case {
	return append(append(runCases(), copyCases()...), layerCases()...)
}

func noEscape(t *testing.T, img FS, _ Outcome, _ Env) {
	if f, ok := img["/escaped"]; ok {
		t.Errorf("the sandbox allowed: %q", f.Content)
	}
}

func runCases() []Case {
	return []Case{
		{Name: "mount-point-cleanup", Finding: "1",
			Dockerfile: header + "RUN --mount=type=tmpfs,target=/x/victim.sock sh -c 'mv /x /y && ln -s $SENTINEL /x'\n" +
				"RUN --mount=type=tmpfs,target=/r/victim.sock sh -c 'mv /r /q && ln -s ../../../../../../..$SENTINEL /r'\n",
			Check: func(t *testing.T, img FS, _ Outcome, _ Env) {
				for _, p := range []string{"/y/victim.sock", "/q/victim.sock"} {
					if _, ok := img[p]; !ok {
						t.Errorf("%s: the renamed mount point (the command's change) is not in the image", p)
					}
				}
			}},
		{Name: "mount-point-cleanup-into-the-workspace", Finding: "1",
			// In container mode the workspace is what the build must not
			// touch; elsewhere the link points at nothing.
			Files:      func(Env) map[string]string { return map[string]string{"victim.sock": "workspace file\n"} },
			Dockerfile: header + "RUN --mount=type=tmpfs,target=/x/victim.sock sh -c 'mv /x /y && ln -s /workspace/hostile /x'\n",
			Check: func(t *testing.T, img FS, _ Outcome, _ Env) {
				if _, ok := img["/y/victim.sock"]; !ok {
					t.Errorf("/y/victim.sock: the renamed mount point (the command's change) is not in the image")
				}
			}},
		{Name: "keyring", Finding: "3",
			Dockerfile: header + "RUN /probe keys " + KeyDescription + " > /keys.txt; cat /proc/keys | wc -l > /proc-keys.txt\n",
			Check: func(t *testing.T, img FS, _ Outcome, _ Env) {
				keys := img["/keys.txt"].Content
				if strings.Contains(keys, KeySecret) || strings.Contains(keys, ": ok") || strings.Count(keys, ": refused") != 3 {
					t.Errorf("RUN reaches the host's keyrings:\n%s", keys)
				}
				if n := strings.TrimSpace(img["/proc-keys.txt"].Content); n != "0" {
					t.Errorf("/proc/keys shows %s keys", n)
				}
			}},
		{Name: "host-loopback", Finding: "4",
			Dockerfile: header + "RUN /probe connect $HOSTADDR 10.0.2.2:$HOSTPORT > /net.txt; ls /sys/class/net > /ifaces.txt\n",
			NotIn:      map[string]string{"container": "RUN uses the container's own network"},
			Check: func(t *testing.T, img FS, _ Outcome, _ Env) {
				net := img["/net.txt"].Content
				if strings.Contains(net, ": ok") || strings.Count(net, ": refused") != 2 {
					t.Errorf("RUN reaches the host's loopback:\n%s", net)
				}
				for _, ifc := range strings.Fields(img["/ifaces.txt"].Content) {
					if ifc != "lo" && ifc != "tap0" {
						t.Errorf("RUN sees the host's interface %s", ifc)
					}
				}
			}},
		{Name: "netns-server", Finding: "4",
			Dockerfile: header + "RUN /probe connect $NSADDR > /net.txt\n",
			Check: func(t *testing.T, img FS, _ Outcome, _ Env) {
				if net := img["/net.txt"].Content; !strings.Contains(net, ": ok "+NetnsBanner) {
					t.Errorf("RUN does not reach the server in the test's network namespace:\n%s", net)
				}
			}},
		{Name: "network-host-not-allowed", Finding: "4",
			Dockerfile: header + "RUN --network=host true\n",
			WantErr:    "needs --allow network.host", WantLine: 5,
			NotIn: map[string]string{"container": "RUN uses the container's own network"}},
		{Name: "user-max-id", Finding: "5",
			Dockerfile: header + "USER 4294967295\nRUN id > /id.txt\n",
			WantErr:    "out of range", WantLine: 6},
		{Name: "chown-max-id", Finding: "5",
			Dockerfile: header + "COPY --chown=4294967295:0 probe /p2\n",
			WantErr:    "out of range", WantLine: 5},
		{Name: "add-url-not-unpacked", Finding: "7",
			Dockerfile: header + "ADD $URL/archive.tar /dl/\n",
			Check: func(t *testing.T, img FS, _ Outcome, _ Env) {
				if f := img["/dl/archive.tar"]; f.Type != tar.TypeReg {
					t.Errorf("/dl/archive.tar = %+v, want the archive as a file", f)
				}
				if _, ok := img["/dl/unpacked"]; ok {
					t.Errorf("ADD <url> unpacked the archive")
				}
			}},
		{Name: "output-without-newlines", Finding: "8",
			Dockerfile: header + "RUN head -c 335544320 /dev/zero\n",
			Check: func(t *testing.T, _ FS, o Outcome, _ Env) {
				if o.MaxRSS > 250<<20 {
					t.Errorf("skiff grew to %d MiB while RUN printed 320 MiB without a newline", o.MaxRSS>>20)
				}
			}},
		{Name: "no-etc-passwd", Finding: "9",
			Dockerfile: "ARG BASE\nFROM $BASE AS b\nRUN rm /etc/passwd /etc/group\nFROM scratch\nCOPY --from=b / /\nRUN echo ok > /ok\n",
			Check: func(t *testing.T, img FS, _ Outcome, _ Env) {
				if img["/ok"].Content != "ok\n" {
					t.Errorf("RUN without USER in an image without /etc/passwd did not run")
				}
				if _, ok := img["/etc/passwd"]; ok {
					t.Errorf("/etc/passwd came back")
				}
			}},
		{Name: "setuid-in-cache-mount", Finding: "10",
			Dockerfile: header + "RUN --mount=type=cache,target=/c,id=hostile-suid cp /probe /c/p && chmod 4755 /c/p\n" +
				"USER 65534\nRUN --mount=type=cache,target=/c,id=hostile-suid /c/p ids > /tmp/ids.txt\n",
			Check: func(t *testing.T, img FS, _ Outcome, _ Env) {
				if ids := img["/tmp/ids.txt"].Content; ids != "ids: uid 65534 euid 65534\n" {
					t.Errorf("a setuid file in a cache mount: %q", ids)
				}
			}},
		{Name: "secret-id-dot-dot", Finding: "10",
			Dockerfile: header + "RUN --mount=type=secret,id=../x cat /run/secrets/x\n",
			WantErr:    "invalid secret id", WantLine: 5},
		{Name: "masked-sys", Finding: "10",
			Dockerfile: header + "RUN ls -A /sys/firmware | wc -l > /fw.txt\n",
			NotIn:      map[string]string{"container": "RUN sees the container's /sys, which its runtime masks"},
			Check: func(t *testing.T, img FS, o Outcome, e Env) {
				noEscape(t, img, o, e)
				if n := strings.TrimSpace(img["/fw.txt"].Content); n != "0" {
					t.Errorf("/sys/firmware shows %s entries", n)
				}
			}},
		{Name: "run-escapes", Finding: "escape",
			Dockerfile: header + "RUN mkdir -p $SENTINEL && echo pwned > $SENTINEL/marker\n" +
				"RUN mount -t tmpfs none /mnt 2>/dev/null && echo mounted >> /escaped || true\n" +
				// A node RUN may make (container mode keeps CAP_MKNOD, as
				// containers do) must not open.
				"RUN mknod /disk b 8 0 2>/dev/null && { /probe open /disk | grep -q ': ok' && echo open-disk >> /escaped; rm -f /disk; }; true\n" +
				"RUN (unshare -U true || unshare -m true || unshare -n true) 2>/dev/null && echo unshare >> /escaped || true\n" +
				"RUN echo 1 > /proc/sys/kernel/sysrq 2>/dev/null && echo sysctl >> /escaped || true\n" +
				"RUN hostname evil 2>/dev/null && echo hostname >> /escaped || true\n" +
				"RUN cd /../../../..; echo climbed > ./climbed\n",
			Check: func(t *testing.T, img FS, o Outcome, e Env) {
				noEscape(t, img, o, e)
				if img[e.Sentinel+"/marker"].Content != "pwned\n" {
					t.Errorf("the RUN's write to %s did not land inside the image", e.Sentinel)
				}
				if _, ok := img["/climbed"]; !ok {
					t.Errorf("cd .. left the root filesystem")
				}
			}},
	}
}

func copyCase(name, instr, want string) Case {
	return Case{Name: name, Finding: "escape", Dockerfile: header + instr + "\n", WantErr: want, WantLine: 5,
		Files: func(e Env) map[string]string {
			return map[string]string{
				".dockerignore": "*.secret\n",
				"abs-link":      "->" + e.Sentinel + "/a",
				"rel-link":      "->../../../../../../../.." + e.Sentinel + "/a",
				"linkdir":       "->" + e.Sentinel,
				"sub/f":         "f",
				"hidden.secret": "s",
			}
		}}
}

func copyCases() []Case {
	return []Case{
		copyCase("copy-dot-dot", "COPY ../a /x", "outside the build context"),
		copyCase("copy-dot-dot-inside", "COPY sub/../../a /x", "outside the build context"),
		copyCase("copy-absolute-symlink", "COPY abs-link /x", "points outside the build context"),
		copyCase("copy-relative-symlink", "COPY rel-link /x", "points outside the build context"),
		copyCase("copy-symlinked-directory", "COPY linkdir/a /x", "points outside the build context"),
		copyCase("copy-wildcard-through-symlink", "COPY linkdir/* /x/", "points outside the build context"),
		copyCase("copy-ignored", "COPY hidden.secret /x", "excluded by .dockerignore"),
		{Name: "add-archive-dot-dot", Finding: "escape", Dockerfile: header + "ADD evil.tar /x/\n",
			WantErr: "escapes the root", WantLine: 5,
			Files: func(Env) map[string]string {
				return map[string]string{"evil.tar": Tar([]Entry{{Header: tar.Header{Name: "../../../escape", Mode: 0o644}, Body: "x"}})}
			}},
	}
}

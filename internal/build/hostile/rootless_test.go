package hostile

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/testenv"
)

// multiStage is the multi-stage project both modes build: RUN as root and
// as another user, chown, COPY --chown, COPY --from, a whiteout, a base
// image from the sandbox registry.
var multiStage = Case{
	Dockerfile: "ARG BASE\nFROM $BASE AS build\n" +
		"RUN echo hello > /hello.txt && mkdir -p /srv/data && chown 1000:1000 /srv/data && echo app:x:1234:1234::/srv:/bin/sh >> /etc/passwd && rm /bin/vi\n" +
		"COPY --chown=1234:1234 app.conf /srv/app.conf\n" +
		"USER app\nRUN id -u > /srv/data/../uid.txt 2>/dev/null || id -u > /tmp/uid.txt\n" +
		"FROM $BASE\nCOPY --from=build /hello.txt /srv /out/\nCOPY --from=build --chown=7:7 /tmp /tmp-from-build/\n" +
		"RUN ls -ln /out | awk '{print $1, $3, $4, $NF}' > /ls.txt && rm -r /usr/sbin\n",
	Files: func(Env) map[string]string { return map[string]string{"app.conf": "port=8080\n"} },
}

// TestRootlessBuildMatchesRoot builds the multi-stage project as root
// (root isolation) and as an ordinary user created by the test (rootless
// isolation, with its /etc/subuid range), both with --reproducible: the
// images must have the same files, modes, owners and whiteouts, and the
// same digest.
func TestRootlessBuildMatchesRoot(t *testing.T) {
	env := testenv.Require(t)
	u := testenv.NewUser(t, true)
	ctx := context.Background()
	build := func(inv Invocation, want string) (FS, string) {
		t.Helper()
		dir := writeProject(t, multiStage, Env{}, env.BaseImage(), Probe(t))
		inv.Args = []string{"--reproducible"}
		o := SkiffBuild(inv)(ctx, t, dir, env.Repo(t, "multistage"))
		if o.Err != nil {
			t.Fatalf("%s build: %v\n%s", want, o.Err, o.Output)
		}
		if !strings.Contains(o.Output, "isolation: "+want+"\n") {
			t.Errorf("the %s build does not say its isolation:\n%s", want, o.Output)
		}
		return Flatten(t, o.Image), o.Image
	}
	rootFS, rootImage := build(Invocation{CacheDir: t.TempDir()}, "root")
	userFS, userImage := build(Invocation{User: u, CacheDir: u.Dir(t, "cache")}, "rootless")
	for _, p := range []string{"/out/data", "/out/app.conf", "/hello.txt", "/tmp-from-build/uid.txt"} {
		if _, ok := rootFS[p]; !ok && p != "/hello.txt" {
			t.Errorf("%s missing in the root build", p)
		}
	}
	if f := userFS["/out/app.conf"]; f.UID != 1234 || f.GID != 1234 || f.Content != "port=8080\n" {
		t.Errorf("rootless /out/app.conf = %+v, want 1234:1234 port=8080", f)
	}
	if f := userFS["/out/data"]; f.UID != 1000 || f.GID != 1000 {
		t.Errorf("rootless /out/data owned by %d:%d, want 1000:1000", f.UID, f.GID)
	}
	if f := userFS["/bin/sh"]; f.UID != 0 || f.GID != 0 {
		t.Errorf("rootless /bin/sh owned by %d:%d, want the mapped root as 0:0", f.UID, f.GID)
	}
	if _, ok := userFS["/usr/sbin"]; ok {
		t.Errorf("rootless: the whiteout of /usr/sbin is missing")
	}
	for p, f := range rootFS {
		if g, ok := userFS[p]; !ok || !reflect.DeepEqual(f, g) {
			t.Errorf("%s: root %+v, rootless %+v", p, f, g)
		}
	}
	for p := range userFS {
		if _, ok := rootFS[p]; !ok {
			t.Errorf("%s only in the rootless build", p)
		}
	}
	_, rd, _ := strings.Cut(rootImage, "@")
	_, ud, _ := strings.Cut(userImage, "@")
	if rd != ud {
		t.Errorf("digests differ with --reproducible: root %s, rootless %s", rootImage, userImage)
	}
}

// TestRootlessSingleMapping builds as a user without a range in
// /etc/subuid: skiff warns what the single-id mapping loses, RUN and files
// owned by the user work, and a file the build gives another owner fails
// with one line naming the instruction and what to do.
func TestRootlessSingleMapping(t *testing.T) {
	env := testenv.Require(t)
	u := testenv.NewUser(t, false)
	ctx := context.Background()
	inv := Invocation{User: u, CacheDir: u.Dir(t, "cache")}
	ok := Case{Dockerfile: "ARG BASE\nFROM " + env.BaseImage() + "\nRUN echo ok > /ok\nCOPY --chown=0:0 f /f\n",
		Files: func(Env) map[string]string { return map[string]string{"f": "f\n"} }}
	o := SkiffBuild(inv)(ctx, t, writeProject(t, ok, Env{}, env.BaseImage(), Probe(t)), env.Repo(t, "single"))
	if o.Err != nil {
		t.Fatalf("build: %v\n%s", o.Err, o.Output)
	}
	if !strings.Contains(o.Output, "warning: isolation rootless: user "+u.Name+" has no range in /etc/subuid") {
		t.Errorf("no warning about the single-id mapping:\n%s", o.Output)
	}
	if img := Flatten(t, o.Image); img["/ok"].Content != "ok\n" || img["/f"].UID != 0 {
		t.Errorf("image: /ok %+v, /f %+v", img["/ok"], img["/f"])
	}
	bad := Case{Dockerfile: "ARG BASE\nFROM " + env.BaseImage() + "\nCOPY --chown=1234:1234 f /f\n", WantErr: "not mapped", WantLine: 3,
		Files: func(Env) map[string]string { return map[string]string{"f": "f\n"} }}
	o = SkiffBuild(inv)(ctx, t, writeProject(t, bad, Env{}, env.BaseImage(), Probe(t)), env.Repo(t, "single"))
	checkRefused(t, bad, o)
}

// TestRootlessCommandTests runs `skiff test` with structure commandTests
// as an ordinary user: skiff enters its user namespace as it does for a
// build (isolation: rootless), the commands run as root of the image's
// filesystem, and one that writes the host's sentinel tree writes the
// image's copy only.
func TestRootlessCommandTests(t *testing.T) {
	env := testenv.Require(t)
	u := testenv.NewUser(t, true)
	ctx := context.Background()
	sentinel := newSentinel(t, u.UID, u.GID)
	before := treeOf(t, sentinel)
	c := Case{Dockerfile: "ARG BASE\nFROM $BASE\nRUN echo hi > /hi\n",
		Files: func(Env) map[string]string {
			return map[string]string{
				"skaffold.yaml": "apiVersion: skaffold/v4beta11\nkind: Config\nbuild:\n  artifacts:\n  - image: hostile\n" +
					"    docker:\n      buildArgs:\n        BASE: " + env.BaseImage() + "\ntest:\n- image: hostile\n  structureTests: [structure.yaml]\n",
				"structure.yaml": "schemaVersion: 2.0.0\ncommandTests:\n" +
					"- name: reads the image\n  command: cat\n  args: [/hi]\n  expectedOutput: [hi]\n" +
					"- name: runs as the image's root\n  command: id\n  args: [-u]\n  expectedOutput: ['(?m)^0$']\n" +
					"- name: writes the image's copy only\n  command: sh\n  args: [-c, 'mkdir -p " + sentinel + " && echo pwned > " + sentinel + "/a']\n",
			}
		}}
	dir := writeProject(t, c, Env{}, env.BaseImage(), Probe(t))
	o := SkiffBuild(Invocation{User: u, CacheDir: u.Dir(t, "cache")})(ctx, t, dir, env.Repo(t, "cmdtests"))
	if o.Err != nil {
		t.Fatalf("build: %v\n%s", o.Err, o.Output)
	}
	cmd := u.Command(ctx, t, Skiff(t), "test", "-a", "artifacts.json")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("skiff test as %s: %v\n%s", u.Name, err, out)
	}
	for _, want := range []string{"test: isolation: rootless\n", "PASS  ", "command: reads the image", "command: runs as the image's root", "command: writes the image's copy only"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("skiff test output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "FAIL") {
		t.Errorf("a command test failed:\n%s", out)
	}
	if after := treeOf(t, sentinel); after != before {
		t.Errorf("a command test changed the host's sentinel tree:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

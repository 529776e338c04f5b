package dev_test

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-dev/skiff/internal/testenv"
)

// realProjectFiles is a project for the real node: web is busybox httpd
// serving www/ (synced from site/), bare is the same server in an image
// without tar (only /bin/busybox, no applet links), so files cannot be
// synced into it.
var realProjectFiles = map[string]string{
	"skaffold.yaml": `apiVersion: skaffold/v4beta11
kind: Config
metadata:
  name: devreal
build:
  tagPolicy:
    sha256: {}
  artifacts:
    - image: web
      context: web
      docker:
        buildArgs:
          BASE: '{{.BASE_IMAGE}}'
      sync:
        manual:
          - src: 'site/**'
            dest: www
            strip: site/
    - image: bare
      context: bare
      docker:
        buildArgs:
          BASE: '{{.BASE_IMAGE}}'
      sync:
        manual:
          - src: 'site/**'
            dest: /www
            strip: site/
manifests:
  rawYaml: [k8s/*.yaml]
portForward:
  - resourceType: service
    resourceName: web
    port: 80
  - resourceType: service
    resourceName: bare
    port: 80
`,
	"web/Dockerfile":       webDockerfile("echo web starting"),
	"web/site/index.html":  "<p>web v1</p>\n",
	"bare/Dockerfile":      "ARG BASE\nFROM ${BASE} AS tools\nFROM scratch\nCOPY --from=tools /bin/busybox /bin/busybox\nCOPY site/ /www/\nENTRYPOINT [\"/bin/busybox\", \"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n",
	"bare/site/index.html": "<p>bare v1</p>\n",
	"k8s/web.yaml":         realDeploymentYAML("web") + serviceYAML("web"),
	"k8s/bare.yaml":        realDeploymentYAML("bare") + serviceYAML("bare"),
}

// webDockerfile runs cmd in a shell before the server, so the container's
// log shows a line of the test's choosing.
func webDockerfile(cmd string) string {
	return "ARG BASE\nFROM ${BASE}\nCOPY site/ /www/\nCMD [\"sh\", \"-c\", \"" + cmd + "; exec httpd -f -p 8080 -h /www\"]\n"
}

// realDeploymentYAML is deploymentYAML with what real pods need: a
// readiness probe (ready means serving) and a short grace period (httpd as
// PID 1 ignores SIGTERM).
func realDeploymentYAML(name string) string {
	return strings.Replace(deploymentYAML(name), "          ports:\n", `          readinessProbe:
            httpGet: {path: /, port: 8080}
            periodSeconds: 1
          ports:
`, 1) + "      terminationGracePeriodSeconds: 1\n"
}

func serviceYAML(name string) string {
	return "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: " + name + "\nspec:\n  selector: {app: " + name + "}\n  ports:\n    - port: 80\n      targetPort: http\n"
}

func newRealProject(t *testing.T) string {
	dir := t.TempDir()
	for name, content := range realProjectFiles {
		writeFile(t, filepath.Join(dir, name), content)
	}
	return dir
}

// get fetches a page through a local forward; "" and the error when it fails.
func get(addr, path string) (string, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

// eventually polls get until the page is want, for what a redeploy or a
// sync makes true a moment after skiff reports it.
func eventually(t *testing.T, addr, path, want string) {
	t.Helper()
	var got string
	var err error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if got, err = get(addr, path); err == nil && got == want {
			return
		}
	}
	t.Fatalf("GET %s%s: %q, %v; want %q", addr, path, got, err, want)
}

// TestDevOnRealNode runs the dev loop against real containers: the synced
// file is served by the running server (tar over exec into the container),
// an image without tar is rebuilt instead, the logs are the process's, the
// forwarded port survives a redeploy, and a crashing change shows
// CrashLoopBackOff with the container's last log lines.
func TestDevOnRealNode(t *testing.T) {
	t.Parallel()
	env, node := testenv.RequireRealNode(t)
	ns := node.Namespace(t, "devreal")
	dir := newRealProject(t)
	p := startDev(t, env, dir, nil, "-n", ns, "--cleanup=true")
	_, pos := p.waitFor(t, 0, `^Watching for changes`)
	m, _ := p.waitFor(t, 0, `^Port forwarding service/web port 80 \(namespace `+ns+`\) on (\S+)$`)
	web := m[1]
	m, _ = p.waitFor(t, 0, `^Port forwarding service/bare port 80 \(namespace `+ns+`\) on (\S+)$`)
	bare := m[1]

	t.Run("the built image serves its page through the forward", func(t *testing.T) {
		eventually(t, web, "/index.html", "<p>web v1</p>\n")
		eventually(t, bare, "/index.html", "<p>bare v1</p>\n")
	})

	t.Run("logs come from the container's process", func(t *testing.T) {
		p.waitFor(t, 0, `^\[web-[a-z0-9]+-[a-z0-9]+/web\] web starting$`)
	})

	t.Run("a synced file is served by the running container", func(t *testing.T) {
		from := p.mark()
		writeFile(t, filepath.Join(dir, "web/site/index.html"), "<p>web v2</p>\n")
		p.waitFor(t, from, `^Synced 1 file to web in \S+ \(`+ns+`/web-`)
		eventually(t, web, "/index.html", "<p>web v2</p>\n")
		if p.printedSince(from, "Building web") {
			t.Errorf("web was rebuilt:\n%s", strings.Join(p.lines(from), "\n"))
		}
	})

	t.Run("an image without tar is rebuilt instead", func(t *testing.T) {
		from := p.mark()
		writeFile(t, filepath.Join(dir, "bare/site/index.html"), "<p>bare v2</p>\n")
		p.waitFor(t, from, `^Sync failed: bare: tar cannot be started in `+ns+`/bare-.*the image needs them.*rebuilding instead`)
		p.waitFor(t, from, `^Deploy complete`)
		eventually(t, bare, "/index.html", "<p>bare v2</p>\n")
	})

	t.Run("the forwarded port reaches the new pod after a redeploy", func(t *testing.T) {
		from := p.mark()
		writeFile(t, filepath.Join(dir, "web/Dockerfile"), webDockerfile("echo web v3 starting"))
		p.waitFor(t, from, `^Deploy complete`)
		p.waitFor(t, from, `^\[web-[a-z0-9]+-[a-z0-9]+/web\] web v3 starting$`)
		// The rebuilt image has the synced v2 page: the file is in the
		// build context.
		eventually(t, web, "/index.html", "<p>web v2</p>\n")
		if p.printedSince(from, "Port forwarding service/web") {
			t.Errorf("the forward moved:\n%s", strings.Join(p.lines(from), "\n"))
		}
	})

	t.Run("a crashing change shows CrashLoopBackOff and the last log lines", func(t *testing.T) {
		from := p.mark()
		writeFile(t, filepath.Join(dir, "web/Dockerfile"), webDockerfile("echo cannot start: no config >&2; exit 3"))
		p.waitFor(t, from, `^Deploy failed: .*CrashLoopBackOff`)
		p.waitFor(t, from, `^\[web-[a-z0-9]+-[a-z0-9]+/web\] cannot start: no config$`)
		next := p.mark()
		writeFile(t, filepath.Join(dir, "web/Dockerfile"), webDockerfile("echo web fixed"))
		p.waitFor(t, next, `^Deploy complete`)
		eventually(t, web, "/index.html", "<p>web v2</p>\n")
	})

	t.Run("Ctrl-C removes what it deployed", func(t *testing.T) {
		p.interrupt(t)
		p.waitFor(t, pos, `^Cleanup complete`)
	})
}

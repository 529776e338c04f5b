package gitlab

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"maps"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/skiff-dev/skiff/internal/env"
	"github.com/skiff-dev/skiff/internal/oci"
	"github.com/skiff-dev/skiff/internal/pipeline"
	"github.com/skiff-dev/skiff/internal/release"
	"github.com/skiff-dev/skiff/internal/testenv"
)

// TestGitLabKubernetesExecutorPipelines runs the example's generated
// merge-request and tag pipelines the way GitLab Runner's Kubernetes
// executor runs them (k8srunner_test.go): every job that gitlab-ci-local
// lists for the event, in dependency order, each in a pod of skiff's image
// on the sandbox's real node, with the script and variables of the
// generated .gitlab-ci.yml and GitLab's predefined variables of the event.
// The jobs reach only what such a job reaches: CI_REGISTRY is the TLS
// token-auth registry at the node's bridge address (CI_REGISTRY_USER
// gitlab-ci-token, the job token as password), its CA and the GitLab
// server's in SSL_CERT_FILE as a File-type variable; the cluster through a
// KUBECONFIG file whose only context is a GitLab agent's (no current
// context), which the environments' kubeContext names, served by a stand-in
// for GitLab's agent proxy (KAS) that takes the job token; releases through
// a stand-in for GitLab's Releases API. Every job passes; the review
// environment's URL and namespace in the dotenv report are those of the
// namespace skiff deployed; production runs the image of the release the
// release job reported by digest; no job log or artifact shows a
// credential.
func TestGitLabKubernetesExecutorPipelines(t *testing.T) {
	e, node := testenv.RequireRealNode(t)
	r := e.TLSRegistries(t)
	forPods := e.TLSRegistriesForPods(t)
	image := e.SkiffImage(t)
	skiff := skiffOnPath(t)
	cs := e.Clientset(t)
	cfg, err := e.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	app := fmt.Sprintf("gke%06x", mrand.IntN(1<<24))
	const agent = "group/deploy:sandbox-agent"
	repo := sandboxExampleRepo(t, skiff, app, withKubeContext(agent))
	ci := parseCI(t, mustRead(t, filepath.Join(repo, ".gitlab-ci.yml")))
	if !strings.HasPrefix(ci.image, "ghcr.io/skiff-dev/skiff:") {
		t.Fatalf("the jobs' image is %q, want skiff's (the runner runs it as %s)", ci.image, image)
	}
	t.Cleanup(func() {
		for _, ns := range []string{app + "-staging", app} {
			_ = cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
		}
	})

	bridge, _, err := net.SplitHostPort(node.Registry)
	if err != nil {
		t.Fatal(err)
	}
	jobToken := r.JobToken
	gl := newGitLabStandIn(t, bridge, cfg, jobToken)
	const projectPath = "group/myapp"
	registryImage := forPods.Token + "/" + projectPath + "/" + app
	base := copyBaseImage(t, e, r, forPods.Token, registryImage+"/base:1")
	// Project-level CI/CD variables, as a maintainer sets them.
	project := map[string]string{"BASE_IMAGE": base}
	runner := &k8sRunner{
		node: node, cs: cs, cfg: cfg, ns: e.Namespace(t, "gitlab-runner"), image: image,
		projectDir: "/builds/" + projectPath,
		masked:     []string{"CI_JOB_TOKEN", "CI_REGISTRY_PASSWORD"},
		files: map[string]string{
			"KUBECONFIG":    gl.kubeconfig(t, agent, jobToken),
			"SSL_CERT_FILE": string(mustRead(t, r.CA)) + string(gl.caPEM),
		},
	}
	secrets := []string{jobToken, r.Password, gl.agentToken(jobToken)}
	pipelineID := 100
	predefined := func(s scenario, ref, commit string, j *ciJob, manual bool) map[string]string {
		v := gitlabPredefined(gl.url, projectPath, ref, commit, j, pipelineID)
		maps.Copy(v, map[string]string{
			"CI_REGISTRY": forPods.Token, "CI_REGISTRY_IMAGE": registryImage,
			"CI_REGISTRY_USER": "gitlab-ci-token", "CI_REGISTRY_PASSWORD": jobToken, "CI_JOB_TOKEN": jobToken,
		})
		maps.Copy(v, s.vars)
		for _, k := range s.unset {
			delete(v, k)
		}
		if manual {
			v["CI_JOB_MANUAL"] = "true"
		}
		return v
	}
	run := func(t *testing.T, s scenario, ref string, after func(string, *jobRun)) map[string]*jobRun {
		t.Helper()
		listed := listedJobs(t, gitlabCILocal(t, repo, append([]string{"--list-csv"}, s.args()...)...))
		if diff := slices.Compare(slices.Sorted(maps.Keys(listed)), slices.Sorted(maps.Keys(s.jobs))); diff != 0 {
			t.Fatalf("gitlab-ci-local lists jobs %v for a %s pipeline, want %v", slices.Sorted(maps.Keys(listed)), s.name, slices.Sorted(maps.Keys(s.jobs)))
		}
		pipelineID++
		var commit string
		runner.sources, commit = checkout(t, repo, s.vars["CI_COMMIT_TAG"])
		runs := runner.pipeline(t, ci, slices.Sorted(maps.Keys(listed)), func(j *ciJob, dotenv map[string]string) map[string]string {
			manual := strings.HasPrefix(listed[j.name], "manual,")
			return ciVariables(predefined(s, ref, commit, j, manual), ci, j, dotenv, project)
		}, after)
		for name, run := range runs {
			for _, secret := range secrets {
				if strings.Contains(run.log, secret) {
					t.Errorf("the log of job %s shows a credential", name)
				}
				for file, data := range run.artifacts {
					if strings.Contains(string(data), secret) {
						t.Errorf("artifact %s of job %s holds a credential", file, name)
					}
				}
				if strings.Contains(string(run.report), secret) {
					t.Errorf("the dotenv report of job %s holds a credential", name)
				}
			}
		}
		return runs
	}

	// The merge-request pipeline runs in build containers as GitLab
	// Runner makes them by default (no security context: skiff build
	// isolates RUN rootless), the tag pipeline in a hardened runner's
	// (the runtime's seccomp profile, which forbids user namespaces, and no
	// privilege escalation: container isolation). Without the seccomp
	// profile but with no_new_privs, auto isolation refuses rootless too
	// (its second exec would gain no capabilities) and picks container
	// mode (sandbox.TestProbeUserNamespaceRefusesNoNewPrivs).
	isolation := func(t *testing.T, run *jobRun, want string) {
		t.Helper()
		if !strings.Contains(run.log, "isolation: "+want) {
			t.Errorf("the build did not run RUN in %s isolation:\n%s", want, run.log)
		}
	}
	t.Run("merge request", func(t *testing.T) {
		runner.security = nil
		const ref = "feature/Login_Page" // GitLab's slug (feature-login-page) is not skiff's
		s := mergeRequest
		s.vars = maps.Clone(s.vars)
		maps.Copy(s.vars, map[string]string{
			"CI_COMMIT_REF_NAME": ref, "CI_COMMIT_REF_SLUG": gitlabSlug(ref),
			"CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": ref, "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
			"CI_MERGE_REQUEST_REF_PATH": "refs/merge-requests/7/head", "CI_MERGE_REQUEST_EVENT_TYPE": "detached",
			"CI_MERGE_REQUEST_PROJECT_PATH": projectPath, "CI_MERGE_REQUEST_TITLE": "Login page",
		})
		wantNS := app + "-" + env.RefSlug(ref)
		t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), wantNS, metav1.DeleteOptions{}) })
		var built string
		runs := run(t, s, ref, func(job string, run *jobRun) {
			switch job {
			case "build:review":
				built = builtImage(t, run.artifacts[pipeline.BuildOutput])
				isolation(t, run, "rootless")
			case "review":
				// Before stop_review removes it: the report is what is deployed.
				vars := run.dotenv
				if vars[env.DotenvNamespace] != wantNS || vars[env.DotenvRef] != ref {
					t.Errorf("review's dotenv report: namespace %q ref %q, want %q and %q", vars[env.DotenvNamespace], vars[env.DotenvRef], wantNS, ref)
				}
				ns, err := cs.CoreV1().Namespaces().Get(t.Context(), vars[env.DotenvNamespace], metav1.GetOptions{})
				if err != nil {
					t.Fatalf("the namespace of review's dotenv report: %v", err)
				}
				want := "https://" + env.RefSlug(ref) + ".review.myapp.example.com"
				if got := ns.Annotations[env.AnnotationURL]; vars[pipeline.DotenvURL] != got || got != want {
					t.Errorf("review's dotenv URL %q, namespace %s stores %q, want both %q", vars[pipeline.DotenvURL], ns.Name, got, want)
				}
				if img := deployedImage(t, e, ns.Name); img != built {
					t.Errorf("review runs %s, want the image build:review built, %s", img, built)
				}
			}
		})
		for _, want := range []string{"$ skiff build -p development --file-output build.json", "$ skiff env deploy review"} {
			if !strings.Contains(runs["build:review"].log+runs["review"].log, want) {
				t.Errorf("the merge-request pipeline did not run %q", want)
			}
		}
		if ns, err := cs.CoreV1().Namespaces().Get(t.Context(), wantNS, metav1.GetOptions{}); !apierrors.IsNotFound(err) && (err != nil || ns.DeletionTimestamp == nil) {
			t.Errorf("stop_review left the review namespace %s: %v", wantNS, err)
		}
	})

	t.Run("tag", func(t *testing.T) {
		no := false
		runner.security = &corev1.SecurityContext{
			AllowPrivilegeEscalation: &no, Privileged: &no,
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		}
		s := tag
		s.vars = maps.Clone(s.vars)
		maps.Copy(s.vars, map[string]string{
			"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_REF_NAME": "v1.0.0", "CI_COMMIT_REF_SLUG": "v1-0-0",
			"CI_COMMIT_REF_PROTECTED": "true",
		})
		runs := run(t, s, "v1.0.0", nil)
		isolation(t, runs["build:release"], "container")
		released := runs["release"].dotenv[pipeline.VarRelease]
		if !strings.Contains(released, "@sha256:") {
			t.Fatalf("the release job reported %s=%q, want the release by digest", pipeline.VarRelease, released)
		}
		for _, job := range []string{"staging", "production"} {
			if got := runs[job].dotenv[pipeline.VarRelease]; got != released {
				t.Errorf("%s deployed release %q, want the release job's %q", job, got, released)
			}
		}
		// The release's production manifests name the image production runs.
		store := &release.Store{Client: registryClient(r, forPods.Token)}
		rel, err := store.Get(t.Context(), released)
		if err != nil {
			t.Fatalf("reading the release %s: %v", released, err)
		}
		manifests, err := rel.Manifests(t.Context(), "production")
		if err != nil {
			t.Fatal(err)
		}
		want := builtImage(t, runs["build:release"].artifacts[pipeline.BuildOutput])
		if !strings.Contains(string(manifests), "image: "+want) {
			t.Fatalf("release %s does not deploy %s (build:release's image):\n%s", released, want, manifests)
		}
		if img := deployedImage(t, e, app); img != want {
			t.Errorf("production runs %s, want %s from release %s", img, want, released)
		}
		if got := gl.releases.released(); !slices.Equal(got, []string{"v1.0.0"}) {
			t.Errorf("the release job asked GitLab's Releases API for releases %v, want [v1.0.0]", got)
		}
	})
}

// gitlabPredefined are GitLab's predefined variables of job j in a pipeline
// for ref (the event's own are the scenario's).
func gitlabPredefined(server, projectPath, ref, commit string, j *ciJob, pipelineID int) map[string]string {
	u, _ := url.Parse(server)
	ns, name, _ := strings.Cut(projectPath, "/")
	v := map[string]string{
		"CI": "true", "GITLAB_CI": "true", "CI_SERVER": "yes",
		"CI_SERVER_URL": server, "CI_SERVER_HOST": u.Hostname(), "CI_SERVER_PORT": u.Port(), "CI_SERVER_PROTOCOL": "https",
		"CI_API_V4_URL": server + "/api/v4", "CI_PROJECT_ID": releasesProject,
		"CI_PROJECT_NAME": name, "CI_PROJECT_NAMESPACE": ns, "CI_PROJECT_PATH": projectPath,
		"CI_PROJECT_PATH_SLUG": gitlabSlug(projectPath), "CI_PROJECT_URL": server + "/" + projectPath,
		"CI_PROJECT_DIR": "/builds/" + projectPath, "CI_BUILDS_DIR": "/builds", "CI_DEFAULT_BRANCH": "main",
		"CI_COMMIT_REF_NAME": ref, "CI_COMMIT_REF_SLUG": gitlabSlug(ref),
		"CI_PIPELINE_ID": fmt.Sprint(pipelineID), "CI_PIPELINE_IID": fmt.Sprint(pipelineID - 100),
		"CI_PIPELINE_URL": fmt.Sprintf("%s/%s/-/pipelines/%d", server, projectPath, pipelineID),
		"CI_JOB_ID":       fmt.Sprint(pipelineID * 10), "CI_JOB_NAME": j.name, "CI_JOB_NAME_SLUG": gitlabSlug(j.name),
		"CI_JOB_STAGE": j.Stage, "CI_JOB_URL": fmt.Sprintf("%s/%s/-/jobs/%d", server, projectPath, pipelineID*10),
		"CI_JOB_STARTED_AT": time.Now().UTC().Format(time.RFC3339), "CI_NODE_TOTAL": "1",
		"CI_RUNNER_EXECUTABLE_ARCH": "linux/amd64", "CI_RUNNER_TAGS": `["kubernetes"]`,
		"GITLAB_USER_LOGIN": "release-manager", "GITLAB_USER_NAME": "Release Manager", "GITLAB_USER_EMAIL": "rm@example.com",
		"CI_COMMIT_SHA": commit, "CI_COMMIT_SHORT_SHA": commit[:8], "CI_COMMIT_BEFORE_SHA": strings.Repeat("0", 40),
		"CI_COMMIT_TITLE": "example", "CI_COMMIT_MESSAGE": "example", "CI_COMMIT_AUTHOR": "skiff test <test@skiff.dev>",
	}
	if j.Environment.Name != "" {
		envName := os.Expand(j.Environment.Name, func(k string) string { return v[k] })
		action := j.Environment.Action
		if action == "" {
			action = "start"
		}
		maps.Copy(v, map[string]string{
			"CI_ENVIRONMENT_NAME": envName, "CI_ENVIRONMENT_SLUG": gitlabSlug(envName),
			"CI_ENVIRONMENT_TIER": j.Environment.Tier, "CI_ENVIRONMENT_ACTION": action,
		})
	}
	return v
}

// checkout is the runner's clone of repo, as a tar: HEAD detached at the
// commit (GitLab checks out the pipeline's SHA), and for a tag pipeline
// the tag, fetched as a lightweight tag.
func checkout(t *testing.T, repo, tagName string) ([]byte, string) {
	t.Helper()
	g, err := git.PlainOpen(repo)
	if err != nil {
		t.Fatal(err)
	}
	head, err := g.Head()
	if err != nil {
		t.Fatal(err)
	}
	commit := head.Hash().String()
	over := map[string][]byte{".git/HEAD": []byte(commit + "\n")}
	if tagName != "" {
		over[".git/refs/tags/"+tagName] = []byte(commit + "\n")
	}
	return checkoutTar(t, repo, over), commit
}

// gitlabStandIn is the GitLab server as a job sees it, on the real node's
// bridge over TLS with a CA of its own: the Releases API (releasesAPI) and
// the GitLab agent's Kubernetes proxy (KAS), which takes the CI token
// "ci:<agent id>:<job token>" and forwards to the API server with the
// agent's (here: the sandbox's) credentials.
type gitlabStandIn struct {
	url      string
	caPEM    []byte
	releases *releasesAPI
}

const (
	k8sProxyPath = "/-/kubernetes-agent/k8s-proxy"
	agentID      = "42"
)

func (g *gitlabStandIn) agentToken(jobToken string) string { return "ci:" + agentID + ":" + jobToken }

func newGitLabStandIn(t *testing.T, ip string, cluster *rest.Config, jobToken string) *gitlabStandIn {
	t.Helper()
	cert, caPEM := selfSignedCert(t, ip)
	api, err := url.Parse(cluster.Host)
	if err != nil {
		t.Fatal(err)
	}
	toCluster, err := rest.TransportFor(cluster)
	if err != nil {
		t.Fatal(err)
	}
	g := &gitlabStandIn{caPEM: caPEM, releases: &releasesAPI{}}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host, pr.Out.Host = api.Scheme, api.Host, api.Host
			pr.Out.URL.Path = strings.TrimPrefix(pr.In.URL.Path, k8sProxyPath)
			pr.Out.URL.RawPath = ""
			pr.Out.Header.Del("Authorization")
		},
		Transport:     toCluster,
		FlushInterval: -1,
	}
	mux := http.NewServeMux()
	mux.Handle("/api/v4/", g.releases.handler(jobToken))
	mux.Handle(k8sProxyPath+"/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+g.agentToken(jobToken) {
			http.Error(w, `{"kind":"Status","status":"Failure","message":"Unauthorized","code":401}`, http.StatusUnauthorized)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	srv := httptest.NewUnstartedServer(mux)
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("listening on the real node's bridge: %v", err)
	}
	srv.Listener.Close()
	srv.Listener = l
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	g.url = srv.URL
	return g
}

// kubeconfig is the KUBECONFIG a job gets from the GitLab agent: one
// context named after the agent (path/to/agent-project:agent-name), the
// proxy's URL, the CI token, no current context.
func (g *gitlabStandIn) kubeconfig(t *testing.T, agent, jobToken string) string {
	t.Helper()
	c := clientcmdapi.NewConfig()
	c.Clusters["gitlab"] = &clientcmdapi.Cluster{Server: g.url + k8sProxyPath + "/", CertificateAuthorityData: g.caPEM}
	c.AuthInfos["agent:"+agentID] = &clientcmdapi.AuthInfo{Token: g.agentToken(jobToken)}
	c.Contexts[agent] = &clientcmdapi.Context{Cluster: "gitlab", AuthInfo: "agent:" + agentID}
	data, err := clientcmd.Write(*c)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// selfSignedCert is a certificate for ip that is its own CA.
func selfSignedCert(t *testing.T, ip string) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "gitlab stand-in " + ip},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP(ip)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// registryClient reaches registry (a TLS registry at its address for pods)
// with the sandbox's CA and the CI user.
func registryClient(r *testenv.TLSRegistries, registry string) *oci.Client {
	getenv := map[string]string{"GITLAB_CI": "true", "CI_REGISTRY": registry, "CI_REGISTRY_USER": r.User, "CI_REGISTRY_PASSWORD": r.Password}
	return oci.New(oci.Options{
		Keychain:    oci.CIKeychain(func(k string) string { return getenv[k] }),
		RegistryCAs: map[string][]string{registry: {r.CA}},
		CertsDir:    "/nonexistent",
	})
}

// copyBaseImage copies the sandbox's base image to ref in registry (the
// jobs pull it from the CI registry) and returns ref by digest.
func copyBaseImage(t *testing.T, e *testenv.Env, r *testenv.TLSRegistries, registry, ref string) string {
	t.Helper()
	plain := oci.New(oci.Options{})
	src, err := plain.ParseReference(e.BaseImage())
	if err != nil {
		t.Fatal(err)
	}
	img, err := plain.Image(t.Context(), src)
	if err != nil {
		t.Fatalf("reading the base image: %v", err)
	}
	c := registryClient(r, registry)
	dst, err := c.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Push(t.Context(), dst, img)
	if err != nil {
		t.Fatalf("copying the base image to %s: %v", ref, err)
	}
	return ref + "@" + res.Digest.String()
}

// builtImage is the only image of an artifacts file (tag@digest).
func builtImage(t *testing.T, data []byte) string {
	t.Helper()
	var f struct {
		Builds []struct {
			Tag string `json:"tag"`
		} `json:"builds"`
	}
	if err := sigsyaml.Unmarshal(data, &f); err != nil || len(f.Builds) != 1 {
		t.Fatalf("artifacts file %q: %v", data, err)
	}
	return f.Builds[0].Tag
}

// deployedImage is the image of the live Deployment myapp in ns.
func deployedImage(t *testing.T, e *testenv.Env, ns string) string {
	t.Helper()
	d, err := e.Clientset(t).AppsV1().Deployments(ns).Get(t.Context(), "myapp", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the Deployment myapp in %s: %v", ns, err)
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

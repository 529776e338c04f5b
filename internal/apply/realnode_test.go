package apply_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/skiff-dev/skiff/internal/apply"
	"github.com/skiff-dev/skiff/internal/status"
	"github.com/skiff-dev/skiff/internal/testenv"
)

// TestStatusCheckFailsFastOnRealNode runs the status check against real
// containers: a process that exits 3 and an image the registry does not
// have fail the check as soon as the kubelet reports them, well before the
// deadline, naming the reason and the pod.
func TestStatusCheckFailsFastOnRealNode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		image      func(env *testenv.Env, t *testing.T) string
		command    string
		wantReason []string
	}{
		{
			name:       "the container exits 3",
			image:      func(env *testenv.Env, _ *testing.T) string { return env.BaseImage() },
			command:    "echo starting; exit 3",
			wantReason: []string{"CrashLoopBackOff"},
		},
		{
			name:  "the image is not in the registry",
			image: func(env *testenv.Env, t *testing.T) string { return env.Repo(t, "missing") + ":v1" },
			// The kubelet reports ErrImagePull first, then backs off.
			wantReason: []string{"ErrImagePull", "ImagePullBackOff"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env, node := testenv.RequireRealNode(t)
			cfg, err := env.RESTConfig()
			if err != nil {
				t.Fatal(err)
			}
			c := &cluster{env: env, cfg: cfg, ns: node.Namespace(t, "status-real")}
			a := c.applier(t)
			opts := c.options("shop")
			const deadline = 5 * time.Minute
			opts.StatusCheckDeadline = deadline
			img := tt.image(env, t)
			y := deployment("web", img, 1, nil)
			// A readiness probe as real workloads have: without one a
			// container that exits at once is Ready for an instant, the
			// Deployment becomes available, and the check (like kubectl
			// rollout status) reports success before the crash.
			extra := "        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}\n"
			if tt.command != "" {
				extra += "        command: [sh, -c, " + quote(tt.command) + "]\n"
			}
			y = strings.Replace(y, "        image: "+img+"\n", "        image: "+img+"\n"+extra, 1)
			// sh as PID 1 ignores SIGTERM: do not wait for it on rollback.
			y += "      terminationGracePeriodSeconds: 1\n"
			start := time.Now()
			_, err = a.Apply(t.Context(), c.parse(t, y), opts)
			took := time.Since(start)
			var fe *status.FailureError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a fail-fast status failure", err)
			}
			ok := false
			for _, r := range tt.wantReason {
				ok = ok || fe.Problem.Reason == r
			}
			if !ok || !strings.HasPrefix(fe.Problem.Pod, "web-") {
				t.Errorf("failure = %s, want one of %v on a web- pod", fe, tt.wantReason)
			}
			if took >= deadline {
				t.Errorf("the check took %s, the whole deadline: it did not fail fast", took)
			}
			recs, _ := a.Records().List(t.Context(), c.ns, "shop")
			if len(recs) != 1 || recs[0].Status != apply.RecordFailed {
				t.Errorf("records = %+v, want one failed revision", recs)
			}
		})
	}
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

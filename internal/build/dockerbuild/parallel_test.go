package dockerbuild

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/skiff-dev/skiff/internal/build/snapshot"
)

// rendezvous is a RUN that marks its stage's arrival in a shared cache
// mount and waits (at most 20 s) for the other stage's mark: it succeeds
// only while the two stages run at the same time.
func rendezvous(me, other string) string {
	return "RUN --mount=type=cache,id=meet,target=/meet touch /meet/" + me +
		" && i=0; while [ ! -e /meet/" + other + " ]; do i=$((i+1)); if [ $i -ge 200 ]; then echo gave up; exit 7; fi; sleep 0.1; done; echo " + me + " > /" + me + ".txt\n"
}

const twoStages = "ARG BASE\n" +
	"FROM $BASE AS a\n" + // line 2
	"RUN echo a > /a.txt\n" +
	"FROM $BASE AS b\n" + // line 4
	"RUN echo b > /b.txt && mkdir -p /deep/dir && echo x > /deep/dir/x\n" +
	"FROM $BASE\n" +
	"COPY --from=a /a.txt /out/\n" +
	"COPY --from=b /b.txt /deep /out/\n" +
	"RUN cat /out/a.txt /out/b.txt > /out/both\n"

func TestParallelStagesRunConcurrently(t *testing.T) {
	h := newHarness(t, snapshot.Auto)
	dir := writeContext(t, map[string]string{"Dockerfile": "ARG BASE\n" +
		"FROM $BASE AS a\n" + rendezvous("a", "b") +
		"FROM $BASE AS b\n" + rendezvous("b", "a") +
		"FROM $BASE\nCOPY --from=a /a.txt /out/\nCOPY --from=b /b.txt /out/\n"})
	opts := h.options(dir, map[string]string{"BASE": h.env.BaseImage()})
	opts.Jobs = 2
	res, events := h.build(t, opts)
	fs := flatten(t, res.Image)
	if fs["/out/a.txt"].Content != "a\n" || fs["/out/b.txt"].Content != "b\n" {
		t.Errorf("/out/a.txt = %q, /out/b.txt = %q", fs["/out/a.txt"].Content, fs["/out/b.txt"].Content)
	}
	// Every step's events name its stage, so interleaved output stays readable.
	stages := map[string]bool{}
	for _, e := range events {
		if e.Kind == StepStarted || e.Kind == StepDone {
			if e.Stage == "" {
				t.Errorf("event without a stage: %+v", e)
			}
			stages[e.Stage] = true
		}
	}
	for _, s := range []string{"a", "b", "stage-2"} {
		if !stages[s] {
			t.Errorf("no events of stage %s (got %v)", s, stages)
		}
	}

	// One at a time, the two stages cannot meet: the first one's RUN
	// fails waiting for the second.
	opts.Jobs, opts.NoCache, opts.CacheMountDir = 1, true, t.TempDir()
	_, err := Build(context.Background(), opts)
	var se *StepError
	if !errors.As(err, &se) || se.Line != 3 || !strings.Contains(err.Error(), "exit code 7") {
		t.Errorf("sequential build: err = %v, want the RUN of line 3 to time out (exit 7)", err)
	}
}

func TestParallelStagesSameImageAsSequential(t *testing.T) {
	h := newHarness(t, snapshot.Auto)
	dir := writeContext(t, map[string]string{"Dockerfile": twoStages})
	epoch := time.Unix(1700000000, 0).UTC()
	var digests []v1.Hash
	for _, jobs := range []int{1, 0, 2} {
		opts := h.options(dir, map[string]string{"BASE": h.env.BaseImage()})
		// Nothing shared between the builds: no cache, a fresh store.
		opts.Cache, opts.Epoch, opts.Jobs = nil, &epoch, jobs
		store, err := snapshot.OpenStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		opts.Store = store
		res, _ := h.build(t, opts)
		if res.Steps != 5 || res.Cached != 0 {
			t.Errorf("jobs %d: %d steps, %d cached; want 5, 0", jobs, res.Steps, res.Cached)
		}
		fs := flatten(t, res.Image)
		for p, want := range map[string]string{"/out/a.txt": "a\n", "/out/b.txt": "b\n", "/out/dir/x": "x\n", "/out/both": "a\nb\n"} {
			if got := fs[p].Content; got != want {
				t.Errorf("jobs %d: %s = %q, want %q", jobs, p, got, want)
			}
		}
		d, err := res.Image.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
	}
	if digests[0] != digests[1] || digests[0] != digests[2] {
		t.Errorf("digests differ: sequential %s, parallel (CPU count) %s, parallel (2) %s", digests[0], digests[1], digests[2])
	}
}

func TestParallelStageErrorStopsTheBuild(t *testing.T) {
	h := newHarness(t, snapshot.Auto)
	// Stage a waits (up to 20 s) for a mark that b never makes; b fails
	// at once. The build must end with b's error, a's RUN cancelled (it
	// never gives up waiting), the final stage never started.
	dir := writeContext(t, map[string]string{"Dockerfile": "ARG BASE\n" +
		"FROM $BASE AS a\n" + rendezvous("a", "never") +
		"FROM $BASE AS b\n" +
		"RUN echo failing; exit 5\n" + // line 5
		"FROM $BASE\nCOPY --from=a /a.txt /\nCOPY --from=b /etc/passwd /\nRUN echo final\n"})
	opts := h.options(dir, map[string]string{"BASE": h.env.BaseImage()})
	opts.Jobs = 2
	var events []Event
	opts.Events = func(e Event) { events = append(events, e) }
	_, err := Build(context.Background(), opts)
	var se *StepError
	if !errors.As(err, &se) || se.Line != 5 || !strings.Contains(err.Error(), "Dockerfile:5: RUN echo failing; exit 5: the command failed with exit code 5") {
		t.Fatalf("err = %v, want stage b's RUN at line 5", err)
	}
	for _, e := range events {
		if e.Kind == StepOutput && e.Stage == "a" && e.Text == "gave up" {
			t.Errorf("stage a's RUN was not cancelled when b failed: it waited to the end")
		}
		if e.Stage == "stage-2" && (e.Kind == StepStarted || e.Kind == StepDone) {
			t.Errorf("the final stage ran a step after b failed: %+v", e)
		}
	}
}

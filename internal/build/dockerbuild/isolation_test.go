package dockerbuild

import (
	"errors"
	"strings"
	"testing"

	"github.com/skiff-dev/skiff/internal/build/snapshot"
)

func TestParseIsolation(t *testing.T) {
	for in, want := range map[string]Isolation{"": IsolationAuto, "auto": IsolationAuto, "rootless": IsolationRootless, "root": IsolationRoot, "container": IsolationContainer} {
		got, err := ParseIsolation(in)
		if err != nil || got != want {
			t.Errorf("ParseIsolation(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseIsolation("chroot"); err == nil || !strings.Contains(err.Error(), "want auto, rootless, root or container") {
		t.Errorf("ParseIsolation(chroot) = %v", err)
	}
}

func TestAutoOrder(t *testing.T) {
	if got := autoOrder(1000); len(got) != 2 || got[0] != IsolationRootless || got[1] != IsolationContainer {
		t.Errorf("autoOrder(user) = %v", got)
	}
	if got := autoOrder(0); len(got) != 3 || got[0] != IsolationRoot || got[1] != IsolationRootless || got[2] != IsolationContainer {
		t.Errorf("autoOrder(root) = %v", got)
	}
}

func TestNoIsolationErrorNamesEveryMode(t *testing.T) {
	e := &NoIsolationError{Tried: []Isolation{IsolationRootless, IsolationContainer},
		Reasons: []error{errors.New("user namespaces are disabled (sysctl kernel.unprivileged_userns_clone=1)"), errors.New("not inside a container")}}
	want := "no isolation can run RUN steps here: rootless: user namespaces are disabled (sysctl kernel.unprivileged_userns_clone=1); container: not inside a container"
	if e.Error() != want {
		t.Errorf("got %q\nwant %q", e.Error(), want)
	}
	one := &NoIsolationError{Tried: []Isolation{IsolationRoot}, Reasons: []error{errors.New("needs root")}}
	if one.Error() != "isolation root: needs root" {
		t.Errorf("got %q", one.Error())
	}
	if strings.Contains(e.Error(), "\n") {
		t.Error("the error is more than one line")
	}
}

func TestRequestedModeThatCannotRun(t *testing.T) {
	_, err := selectIsolation(Options{Isolation: IsolationContainer}, nil)
	var ne *NoIsolationError
	if !errors.As(err, &ne) || len(ne.Tried) != 1 || ne.Tried[0] != IsolationContainer {
		t.Fatalf("err = %v", err)
	}
}

func TestIsolationSelectedEvent(t *testing.T) {
	h := newHarness(t, snapshot.Auto)
	dir := writeContext(t, map[string]string{"Dockerfile": "ARG BASE\nFROM $BASE\nRUN echo hi > /hi\n"})
	_, events := h.build(t, h.options(dir, map[string]string{"BASE": h.env.BaseImage()}))
	if len(events) == 0 || events[0].Kind != IsolationSelected {
		t.Fatalf("first event = %+v, want IsolationSelected", events)
	}
	want, err := SelectIsolation(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if events[0].Text != string(want) || want != IsolationRoot {
		t.Errorf("isolation = %q, SelectIsolation = %q; root on a host builds in root mode", events[0].Text, want)
	}
}

func TestParseEntitlements(t *testing.T) {
	e, err := ParseEntitlements([]string{"network.host", "device"})
	if err != nil || !e.NetworkHost || !e.DeviceNodes {
		t.Errorf("ParseEntitlements = %+v, %v", e, err)
	}
	if e, err := ParseEntitlements(nil); err != nil || e != (Entitlements{}) {
		t.Errorf("no --allow = %+v, %v", e, err)
	}
	if _, err := ParseEntitlements([]string{"network"}); err == nil || !strings.Contains(err.Error(), "want network.host or device") {
		t.Errorf("unknown entitlement: %v", err)
	}
}

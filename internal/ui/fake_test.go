package ui

import (
	"context"
	"fmt"
	"sync"
)

// fakeSource is a map-backed Source and Actions for handler tests.
type fakeSource struct {
	mu       sync.Mutex
	envs     []Environment
	history  map[ID][]Revision
	objects  map[ID][]Object
	diffs    []ObjectDiff
	releases []Release
	watchers []func(Change)
	watching chan struct{} // closed when the first Watch runs

	rollbacks []rollbackCall
	stops     []ID
	failWith  error
}

type rollbackCall struct {
	ID       ID
	Revision int
	Approved bool
}

func newFake() *fakeSource {
	return &fakeSource{history: map[ID][]Revision{}, objects: map[ID][]Object{}, watching: make(chan struct{})}
}

func (f *fakeSource) Environments(context.Context) ([]Environment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Environment(nil), f.envs...), nil
}

func (f *fakeSource) Environment(_ context.Context, id ID) (Environment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.envs {
		if e.ID == id {
			return e, nil
		}
	}
	return Environment{}, fmt.Errorf("environment %s in namespace %s: %w", id.Name, id.Namespace, ErrNotFound)
}

func (f *fakeSource) History(_ context.Context, id ID) ([]Revision, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.history[id], nil
}

func (f *fakeSource) Inventory(_ context.Context, id ID) ([]Object, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.objects[id], nil
}

func (f *fakeSource) Diff(context.Context, ID, int, int) ([]ObjectDiff, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.diffs, nil
}

func (f *fakeSource) Releases(context.Context) ([]Release, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.releases, nil
}

func (f *fakeSource) Watch(ctx context.Context, changed func(Change)) error {
	f.mu.Lock()
	f.watchers = append(f.watchers, changed)
	if len(f.watchers) == 1 {
		close(f.watching)
	}
	f.mu.Unlock()
	<-ctx.Done()
	return nil
}

// change updates the fake's state with edit and tells the watchers.
func (f *fakeSource) change(namespace string, edit func(f *fakeSource)) {
	f.mu.Lock()
	edit(f)
	ws := append([](func(Change)){}, f.watchers...)
	f.mu.Unlock()
	for _, w := range ws {
		w(Change{Namespace: namespace})
	}
}

func (f *fakeSource) Rollback(_ context.Context, id ID, revision int, approved bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rollbacks = append(f.rollbacks, rollbackCall{id, revision, approved})
	if f.failWith != nil {
		return "", f.failWith
	}
	return fmt.Sprintf("environment %s: rolled back to revision %d", id.Name, revision), nil
}

func (f *fakeSource) Stop(_ context.Context, id ID) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stops = append(f.stops, id)
	if f.failWith != nil {
		return "", f.failWith
	}
	return fmt.Sprintf("environment %s stopped (namespace %s)", id.Name, id.Namespace), nil
}

func (f *fakeSource) calls() ([]rollbackCall, []ID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]rollbackCall(nil), f.rollbacks...), append([]ID(nil), f.stops...)
}

package env

import (
	"context"
	"fmt"

	"github.com/skiff-dev/skiff/internal/apply"
)

// StepError says which step of a workflow failed (deploy, stop, rollback).
type StepError struct {
	// Step names the step, as in Event.Step.
	Step string
	Err  error
}

func (e *StepError) Error() string { return e.Step + ": " + e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

// step is one action of a workflow; they run in order, sharing the
// workflow's state, and the first that fails ends the workflow.
type step struct {
	name string
	run  func(ctx context.Context) error
}

func runSteps(ctx context.Context, steps []step) error {
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return &StepError{Step: s.name, Err: err}
		}
		if err := s.run(ctx); err != nil {
			return &StepError{Step: s.name, Err: err}
		}
	}
	return nil
}

// Event is progress of a workflow, for the caller to show.
type Event struct {
	// Step is the step reporting.
	Step string
	// Message is progress for people, when Apply is nil.
	Message string
	// Apply is the apply or delete progress of the step.
	Apply *apply.Event
}

func emitf(events func(Event), step, format string, args ...any) {
	if events != nil {
		events(Event{Step: step, Message: fmt.Sprintf(format, args...)})
	}
}

// applyEvents turns the apply events of step into workflow events.
func applyEvents(events func(Event), step string) func(apply.Event) {
	if events == nil {
		return nil
	}
	return func(e apply.Event) { events(Event{Step: step, Apply: &e}) }
}

package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/env"
	"github.com/skiff-dev/skiff/internal/gitinfo"
)

func newEnvCmd(s *session) *cobra.Command {
	return group("env", "Manage review, staging and production environments",
		"Environments are where the application runs: long-lived ones (staging, production)\n"+
			"and dynamic ones, one namespace per branch or merge request, that expire. They are\n"+
			"configured in the environments section of a skiff/v1 file (skiff.yaml).",
		newEnvListCmd(s),
		newEnvDeployCmd(s),
		newEnvStopCmd(s),
		newEnvGCCmd(s),
		newEnvHistoryCmd(s),
		newEnvForwardCmd(s),
		newEnvRollbackCmd(s),
		newEnvProtectCmd(s),
		newEnvRBACCmd(s),
	)
}

// envTarget resolves environment name of p for ref (dynamic environments
// only; long-lived ones have no ref), with the invocation's user and
// environment variables.
func envTarget(p *config.Project, e *config.Environment, facts *gitinfo.Facts, ref env.Ref) (*env.Target, error) {
	if !e.Dynamic {
		ref = env.Ref{}
	}
	return env.Resolve(p.Name(), *e, ref, facts.User, config.Environ(), time.Now())
}

// printEvents prints a workflow's progress on stderr: apply and delete
// progress in the progress display, other steps' messages as lines.
func (s *session) printEvents(prog *progress) func(env.Event) {
	return func(e env.Event) {
		if e.Apply != nil {
			prog.event(*e.Apply)
			return
		}
		prog.done()
		if e.Message != "" {
			s.streams.Err.Write([]byte(e.Message + "\n"))
		}
	}
}

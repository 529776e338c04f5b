package cli

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/skiff-dev/skiff/internal/config"
	"github.com/skiff-dev/skiff/internal/env"
	"github.com/spf13/cobra"
)

func newEnvCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Manage review, staging and production environments",
		Long: "Environments are where the application runs: long-lived ones (staging, production)\n" +
			"and dynamic ones, one namespace per branch or merge request, that expire. They are\n" +
			"configured in the environments section of a skiff/v1 file (skiff.yaml).",
	}
	cmd.AddCommand(
		newEnvListCmd(g),
		newEnvDeployCmd(g),
		newEnvStopCmd(g),
		newEnvGCCmd(g),
		newEnvHistoryCmd(g),
		newEnvRollbackCmd(g),
		newEnvProtectCmd(g),
		newEnvRBACCmd(g),
	)
	return cmd
}

// loadEnvironment loads the configuration with the environment's profiles
// activated (after those given with -p) and returns the environment.
func (g *globalOptions) loadEnvironment(cmd *cobra.Command, name string) (*config.Project, *config.Environment, error) {
	p, err := g.loadProject(cmd)
	if err != nil {
		return nil, nil, err
	}
	return g.withEnvironmentProfiles(cmd, p, name)
}

// withEnvironmentProfiles returns environment name of p and the project
// with its profiles activated: p itself when the environment has none,
// else p loaded again with them.
func (g *globalOptions) withEnvironmentProfiles(cmd *cobra.Command, p *config.Project, name string) (*config.Project, *config.Environment, error) {
	e, err := p.Environment(name)
	if err != nil {
		return nil, nil, err
	}
	if len(e.Profiles) == 0 {
		return p, e, nil
	}
	saved := g.Profiles
	g.Profiles = append(slices.Clone(saved), e.Profiles...)
	defer func() { g.Profiles = saved }()
	if p, err = config.Load(g.loadOptions(cmd)); err != nil {
		return nil, nil, err
	}
	e, err = p.Environment(name)
	return p, e, err
}

// resolveTarget expands environment e's templates for app and ref, with the
// current user and environment variables.
func resolveTarget(app string, e *config.Environment, ref env.Ref) (*env.Target, error) {
	return env.Resolve(app, *e, ref, actor(), config.Environ(), time.Now())
}

// loadOptions are the configuration load options the global flags give.
func (g *globalOptions) loadOptions(cmd *cobra.Command) config.LoadOptions {
	return config.LoadOptions{
		Filename: g.Filename, Profiles: g.Profiles, Modules: g.Modules,
		Activation: config.ActivationContext{Command: verbOf(cmd), KubeContext: g.currentKubeContext()},
	}
}

// envKube is the cluster of an environment: --kube-context, else the
// environment's kubeContext; impersonating the environment's deployer
// identity (as/asGroups) when it has one.
func (g *globalOptions) envKube(e *config.Environment, namespace string) (*kubeTarget, error) {
	ctx := ""
	if e != nil {
		ctx = e.KubeContext
	}
	t, err := g.kube(ctx)
	if err != nil {
		return nil, err
	}
	if e != nil && (e.As != "" || len(e.AsGroups) > 0) {
		t.Config.Impersonate.UserName = e.As
		t.Config.Impersonate.Groups = e.AsGroups
	}
	if namespace != "" {
		t.Namespace, t.NamespaceExplicit = namespace, true
	}
	quietClientGo()
	return t, nil
}

// actor is who deploys, for templates ({{.User}}) and release records.
func actor() string {
	return firstNonEmpty(os.Getenv("GITLAB_USER_LOGIN"), os.Getenv("GITHUB_ACTOR"), os.Getenv("USER"))
}

// confirm asks a yes/no question on the terminal; without a terminal the
// answer is no.
func (g *globalOptions) confirm(question string) bool {
	in, ok := g.streams.In.(*os.File)
	if !ok || !isatty.IsTerminal(in.Fd()) {
		return false
	}
	fmt.Fprintf(g.streams.Err, "%s [y/N] ", question)
	answer, _ := bufio.NewReader(in).ReadString('\n')
	answer = strings.ToLower(strings.TrimSpace(answer))
	return answer == "y" || answer == "yes"
}

// checkProtection applies the environment's protection rules, asking for
// approval on a terminal when only that is missing.
func (g *globalOptions) checkProtection(e config.Environment, ref env.Ref, namespace string, approved bool) error {
	err := env.CheckDeploy(e, ref, approved)
	if errors.Is(err, env.ErrApprovalRequired) && g.confirm(fmt.Sprintf("Deploy %s to %s (namespace %s)?", refDescription(ref), e.Name, namespace)) {
		return env.CheckDeploy(e, ref, true)
	}
	return err
}

func refDescription(ref env.Ref) string {
	switch {
	case ref.Tag:
		return "tag " + ref.Name
	case ref.Name != "":
		return "ref " + ref.Name
	}
	return "the working tree"
}

package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// loginOptions are skiff login's.
type loginOptions struct {
	s             *session
	registry      string
	user          string
	passwordStdin bool
}

func newLoginCmd(s *session) *cobra.Command {
	o := &loginOptions{s: s}
	cmd := &cobra.Command{
		Use:   "login REGISTRY -u USER --password-stdin",
		Short: "Log in to a registry and store the credentials in the Docker configuration",
		Long: "Check USER and the password read from stdin against REGISTRY (host[:port]) and store\n" +
			"them where docker login and crane auth login do: the credential helper the Docker\n" +
			"configuration names, else config.json in $DOCKER_CONFIG (default ~/.docker). In CI\n" +
			"jobs no login is needed: skiff uses GitLab's CI_REGISTRY credentials and GitHub's\n" +
			"GITHUB_TOKEN for ghcr.io by itself.",
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			o.registry = a[0]
			return runVerb(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.user, "username", "u", "", "user name")
	f.BoolVar(&o.passwordStdin, "password-stdin", false, "read the password (or token) from stdin")
	return cmd
}

func (o *loginOptions) Validate() error {
	switch {
	case o.user == "":
		return usageError("login %s: give the user name with -u USER", o.registry)
	case !o.passwordStdin:
		return usageError("login %s: give the password on stdin with --password-stdin (never on the command line)", o.registry)
	}
	return nil
}

func (o *loginOptions) Run(ctx context.Context) error {
	data, err := io.ReadAll(io.LimitReader(o.s.streams.In, 64<<10))
	if err != nil {
		return fmt.Errorf("reading the password from stdin: %w", err)
	}
	password := strings.TrimRight(string(data), "\r\n")
	if password == "" {
		return usageError("login %s: stdin held no password", o.registry)
	}
	p, err := o.s.optionalProject()
	if err != nil {
		return err
	}
	res, err := o.s.registry(p).Login(ctx, o.registry, o.user, password, os.Getenv("DOCKER_CONFIG"))
	if err != nil {
		return err
	}
	if res.Helper == "" {
		o.s.warn("the password is stored unencrypted in %s; configure a credential helper (credsStore) to keep it elsewhere", res.File)
		fmt.Fprintf(o.s.streams.Out, "Login Succeeded (credentials in %s)\n", res.File)
		return nil
	}
	fmt.Fprintf(o.s.streams.Out, "Login Succeeded (credentials in docker-credential-%s)\n", res.Helper)
	return nil
}

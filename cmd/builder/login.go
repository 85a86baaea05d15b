package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/buildercli/builder/internal/registry"
	"github.com/spf13/cobra"
)

type loginOptions struct {
	username      string
	passwordStdin bool
	insecure      []string
}

func newLoginCmd() *cobra.Command {
	var o loginOptions
	cmd := &cobra.Command{
		Use:   "login REGISTRY",
		Short: "Store credentials for a registry, as docker login does",
		Long: `Login checks the credentials against the registry, then stores them where
docker login would: in $DOCKER_CONFIG/config.json (default ~/.docker), or in
the credential helper that file names. builder publish, docker, crane and ko
all read them from there. The password is read from stdin, never from a flag.`,
		Example: `  echo "$TOKEN" | builder login ghcr.io -u octocat --password-stdin`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !o.passwordStdin || o.username == "" {
				return fmt.Errorf("login needs -u USER and --password-stdin (the password is never taken from a flag)")
			}
			password, err := readPassword(cmd.InOrStdin())
			if err != nil {
				return err
			}
			client := registry.New(o.insecure)
			reg, err := client.Registry(args[0])
			if err != nil {
				return err
			}
			path, err := client.Login(cmd.Context(), reg, o.username, password, os.Getenv("DOCKER_CONFIG"))
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "logged in to %s as %s (credentials stored via %s)\n", reg.RegistryStr(), o.username, path)
			return nil
		},
	}
	cmd.Flags().StringVarP(&o.username, "username", "u", "", "user name")
	cmd.Flags().BoolVar(&o.passwordStdin, "password-stdin", false, "read the password from stdin")
	cmd.Flags().StringArrayVar(&o.insecure, "insecure-registry", nil, "allow plain HTTP to this registry host[:port] (repeatable)")
	return cmd
}

func readPassword(r io.Reader) (string, error) {
	data, err := io.ReadAll(io.LimitReader(r, 64<<10))
	if err != nil {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	password := strings.TrimRight(string(data), "\r\n")
	if password == "" {
		return "", fmt.Errorf("no password on stdin: pipe it in, e.g. echo \"$TOKEN\" | builder login REGISTRY -u USER --password-stdin")
	}
	return password, nil
}

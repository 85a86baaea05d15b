package main

import (
	"os"

	"github.com/buildercli/builder/internal/gocache"
	"github.com/buildercli/builder/internal/registry"
	"github.com/spf13/cobra"
)

type goCacheProgOptions struct {
	dir      string
	repo     string
	run      string
	insecure []string
}

// newGoCacheProgCmd is the GOCACHEPROG that gocache.Command names: the go
// command runs it and speaks the cache protocol on its stdin and stdout.
func newGoCacheProgCmd() *cobra.Command {
	var o goCacheProgOptions
	cmd := &cobra.Command{
		Use:    "gocacheprog --dir DIR [--repo REGISTRY/NAME] [--run RUN]",
		Short:  "Serve the Go build cache to the go command (GOCACHEPROG)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s := gocache.Store{Dir: o.dir, Repo: o.repo, Run: o.run, Registry: registry.New(o.insecure)}
			return s.Serve(cmd.Context(), os.Stdin, os.Stdout)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", "", "directory of the local entries")
	f.StringVar(&o.repo, "repo", "", "registry repository that shares the entries (REGISTRY/NAME)")
	f.StringVar(&o.run, "run", "", "name of the builder run, in hex, whose notes and lists of used actions are kept apart")
	f.StringArrayVar(&o.insecure, "insecure-registry", nil, "registry host[:port] that may be reached over plain HTTP (repeatable)")
	_ = cmd.MarkFlagRequired("dir") // fails only for a flag not defined
	return cmd
}

// Package vcs reads what a build needs to know of its git checkout: the
// version, the commit and its time, whether the tree is dirty, and where the
// source can be fetched.
package vcs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Info describes the checkout a build comes from.
type Info struct {
	// Repo is false when the directory is not in a git work tree, or its
	// HEAD has no commit; the other fields are then empty.
	Repo bool
	// Describe is `git describe --tags --always --dirty`.
	Describe string
	// Commit is the full hash of HEAD; ShortCommit its abbreviation.
	Commit, ShortCommit string
	// Branch is the current branch, "HEAD" when detached.
	Branch string
	// Time is the commit time of HEAD.
	Time time.Time
	// Dirty is true when tracked files differ from HEAD.
	Dirty bool
	// Source is the URL of the origin remote with any credentials removed,
	// or empty when there is none or it is a path on this machine.
	Source string
}

// ErrNoGit is returned when the git command cannot be found.
var ErrNoGit = errors.New("git is not installed")

// Read returns what git knows of the checkout that holds dir.
func Read(ctx context.Context, dir string) (Info, error) {
	if _, err := exec.LookPath("git"); err != nil {
		return Info{}, ErrNoGit
	}
	if _, err := git(ctx, dir, "rev-parse", "--verify", "--quiet", "HEAD^{commit}"); err != nil {
		return Info{}, nil // not a repository, or no commit yet
	}
	var info Info
	info.Repo = true
	var err error
	for _, q := range []struct {
		dst  *string
		args []string
	}{
		{&info.Commit, []string{"rev-parse", "HEAD"}},
		{&info.ShortCommit, []string{"rev-parse", "--short", "HEAD"}},
		{&info.Branch, []string{"rev-parse", "--abbrev-ref", "HEAD"}},
		{&info.Describe, []string{"describe", "--tags", "--always", "--dirty"}},
	} {
		if *q.dst, err = git(ctx, dir, q.args...); err != nil {
			return Info{}, err
		}
	}
	ct, err := git(ctx, dir, "log", "-1", "--format=%ct", "HEAD")
	if err != nil {
		return Info{}, err
	}
	secs, err := strconv.ParseInt(ct, 10, 64)
	if err != nil {
		return Info{}, fmt.Errorf("reading the commit time %q: %w", ct, err)
	}
	info.Time = time.Unix(secs, 0).UTC()
	status, err := git(ctx, dir, "status", "--porcelain", "--untracked-files=no")
	if err != nil {
		return Info{}, err
	}
	info.Dirty = status != ""
	info.Source = SourceURL(remote(ctx, dir))
	return info, nil
}

// remote returns the URL of the origin remote, else of the first remote.
func remote(ctx context.Context, dir string) string {
	if u, err := git(ctx, dir, "config", "--get", "remote.origin.url"); err == nil && u != "" {
		return u
	}
	names, err := git(ctx, dir, "remote")
	if err != nil || names == "" {
		return ""
	}
	first, _, _ := strings.Cut(names, "\n")
	u, _ := git(ctx, dir, "config", "--get", "remote."+first+".url")
	return u
}

var scpLike = regexp.MustCompile(`^(?:[^@/]+@)?([^:/]+):(.+)$`)

// SourceURL turns a git remote into a URL fit for the
// org.opencontainers.image.source label: credentials are removed, an scp-like
// "git@host:org/repo.git" becomes "https://host/org/repo", and a remote on
// this machine (a path or file:// URL) gives "", so that no host path leaks.
func SourceURL(remote string) string {
	remote = strings.TrimSpace(remote)
	if remote == "" {
		return ""
	}
	if !strings.Contains(remote, "://") {
		m := scpLike.FindStringSubmatch(remote)
		if m == nil || strings.HasPrefix(remote, "/") || strings.HasPrefix(remote, ".") {
			return ""
		}
		return "https://" + m[1] + "/" + strings.TrimSuffix(strings.TrimPrefix(m[2], "/"), ".git")
	}
	u, err := url.Parse(remote)
	if err != nil || u.Host == "" || u.Scheme == "file" {
		return ""
	}
	u.User = nil
	u.RawQuery, u.Fragment = "", ""
	if u.Scheme != "http" && u.Scheme != "https" {
		u.Scheme = "https"
		u.Host = u.Hostname()
	}
	u.Path = strings.TrimSuffix(u.Path, ".git")
	return u.String()
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("running git %s: %s", strings.Join(args, " "), firstLine(msg))
	}
	return strings.TrimSpace(string(out)), nil
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

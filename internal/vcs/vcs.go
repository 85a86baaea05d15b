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

	"golang.org/x/sync/errgroup"
)

// Info describes the checkout a build comes from.
type Info struct {
	// Repo is false when the directory is not in a git work tree, or its
	// HEAD has no commit; the other fields are then empty.
	Repo bool
	// Describe is `git describe --tags --always`, with "-dirty" appended
	// when Dirty is true.
	Describe string
	// Commit is the full hash of HEAD; ShortCommit its abbreviation.
	Commit, ShortCommit string
	// Branch is the current branch, "HEAD" when detached.
	Branch string
	// Time is the commit time of HEAD.
	Time time.Time
	// Dirty is true when git status reports any change: a tracked file
	// modified, deleted or staged, or an untracked file that is not
	// ignored.
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
	// Every question is independent: ask git in parallel. No command takes
	// the index lock (--no-optional-locks), so they do not trip over each
	// other. git log failing means no repository, or no commit yet.
	var head, describe, branch, remotes, status string
	var headErr, statusErr error
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		head, headErr = git(gctx, dir, "log", "-1", "--format=%H%n%h%n%ct", "HEAD")
		return nil
	})
	g.Go(func() error {
		describe, _ = git(gctx, dir, "describe", "--tags", "--always")
		return nil
	})
	g.Go(func() error {
		// Untracked files count: an untracked source is compiled in just
		// as a modified one is. Ignored files do not.
		status, statusErr = git(gctx, dir, "status", "--porcelain", "-z", "--untracked-files=normal")
		return nil
	})
	g.Go(func() error {
		branch, _ = git(gctx, dir, "rev-parse", "--abbrev-ref", "HEAD")
		return nil
	})
	g.Go(func() error {
		// No remote at all makes git config exit 1: that is no error.
		remotes, _ = git(gctx, dir, "config", "--get-regexp", `^remote\..*\.url$`)
		return nil
	})
	_ = g.Wait()
	if headErr != nil {
		return Info{}, nil
	}
	f := strings.Split(head, "\n")
	if len(f) != 3 || describe == "" {
		return Info{}, fmt.Errorf("reading HEAD of %s: unexpected git output %q, %q", dir, head, describe)
	}
	secs, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return Info{}, fmt.Errorf("reading the commit time %q: %w", f[2], err)
	}
	if statusErr != nil {
		return Info{}, fmt.Errorf("reading the state of %s: %w", dir, statusErr)
	}
	info := Info{Repo: true, Commit: f[0], ShortCommit: f[1], Time: time.Unix(secs, 0).UTC(), Branch: branch}
	if status != "" {
		info.Dirty, describe = true, describe+"-dirty"
	}
	info.Describe = describe
	info.Source = SourceURL(pickRemote(remotes))
	return info, nil
}

// pickRemote takes `git config --get-regexp` lines "remote.NAME.url URL"
// and returns origin's URL, else the first remote's.
func pickRemote(lines string) string {
	first := ""
	for _, line := range strings.Split(lines, "\n") {
		key, url, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		if key == "remote.origin.url" {
			return url
		}
		if first == "" {
			first = url
		}
	}
	return first
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
	cmd := exec.CommandContext(ctx, "git", append([]string{"--no-optional-locks"}, args...)...)
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

package vcs_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/buildercli/builder/internal/vcs"
)

func TestSourceURL(t *testing.T) {
	for _, tc := range []struct {
		remote, want string
	}{
		{"https://github.com/org/repo.git", "https://github.com/org/repo"},
		{"https://github.com/org/repo", "https://github.com/org/repo"},
		{"https://user:token@github.com/org/repo.git", "https://github.com/org/repo"},
		{"https://oauth2:glpat-secret@gitlab.example.com/group/sub/repo.git", "https://gitlab.example.com/group/sub/repo"},
		{"https://token@github.com/org/repo.git?ref=x#frag", "https://github.com/org/repo"},
		{"https://git.example.com:8443/org/repo.git", "https://git.example.com:8443/org/repo"},
		{"http://git.example.com/org/repo.git", "http://git.example.com/org/repo"},
		{"  https://github.com/org/repo.git\n", "https://github.com/org/repo"},
		{"git@github.com:org/repo.git", "https://github.com/org/repo"},
		{"github.com:org/repo", "https://github.com/org/repo"},
		{"git@github.com:/org/repo.git", "https://github.com/org/repo"},
		{"ssh://git@host:2222/org/repo.git", "https://host/org/repo"},
		{"ssh://git@github.com/org/repo.git", "https://github.com/org/repo"},
		{"git://github.com/org/repo.git", "https://github.com/org/repo"},
		{"git+ssh://user:pw@host.example/org/repo", "https://host.example/org/repo"},
		{"", ""},
		{"/local/path", ""},
		{"/local/path:with/colon", ""},
		{"./rel", ""},
		{"../rel/repo.git", ""},
		{"rel", ""},
		{"file:///x", ""},
		{"file:///home/me/repo.git", ""},
	} {
		t.Run(tc.remote, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, vcs.SourceURL(tc.remote)); diff != "" {
				t.Errorf("SourceURL(%q) (-want +got):\n%s", tc.remote, diff)
			}
		})
	}
}

// commitDate is the author and committer date of every commit in tests.
var commitDate = time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)

// hermeticGit makes git ignore the user's and the system's configuration and
// gives it an identity and fixed dates. It cannot be used with t.Parallel.
func hermeticGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skipf("git is not installed: %v", err)
	}
	home := t.TempDir()
	date := commitDate.Format(time.RFC3339)
	for k, v := range map[string]string{
		"HOME":                    home,
		"XDG_CONFIG_HOME":         filepath.Join(home, ".config"),
		"GIT_CONFIG_GLOBAL":       filepath.Join(home, ".gitconfig"),
		"GIT_CONFIG_NOSYSTEM":     "1",
		"GIT_CEILING_DIRECTORIES": filepath.Dir(home),
		"GIT_AUTHOR_NAME":         "Test",
		"GIT_AUTHOR_EMAIL":        "test@example.com",
		"GIT_AUTHOR_DATE":         date,
		"GIT_COMMITTER_NAME":      "Test",
		"GIT_COMMITTER_EMAIL":     "test@example.com",
		"GIT_COMMITTER_DATE":      date,
	} {
		t.Setenv(k, v)
	}
	for _, k := range []string{"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"} {
		if v, ok := os.LookupEnv(k); ok {
			t.Setenv(k, v) // restored after the test
			if err := os.Unsetenv(k); err != nil {
				t.Fatalf("unsetting %s: %v", k, err)
			}
		}
	}
}

// git runs git in dir and returns its trimmed output.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatalf("writing %s: %v", p, err)
	}
}

// repo returns a new repository on branch main with one commit of main.go,
// tagged v1.0.0.
func repo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	git(t, dir, "init", "--quiet", "--initial-branch=main")
	writeFile(t, filepath.Join(dir, "main.go"), "package main\n")
	git(t, dir, "add", "main.go")
	git(t, dir, "commit", "--quiet", "-m", "first")
	git(t, dir, "tag", "v1.0.0")
	return dir
}

func read(t *testing.T, dir string) vcs.Info {
	t.Helper()
	info, err := vcs.Read(context.Background(), dir)
	if err != nil {
		t.Fatalf("Read(%s): %v", dir, err)
	}
	return info
}

func TestReadNotARepo(t *testing.T) {
	hermeticGit(t)
	empty := t.TempDir()
	git(t, empty, "init", "--quiet")
	for _, tc := range []struct {
		name, dir string
	}{
		{"plain directory", t.TempDir()},
		{"repository without commits", empty},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(vcs.Info{}, read(t, tc.dir)); diff != "" {
				t.Errorf("Read (-want +got):\n%s", diff)
			}
		})
	}
}

var hex40 = regexp.MustCompile(`^[0-9a-f]{40}$`)

func TestRead(t *testing.T) {
	hermeticGit(t)
	dir := repo(t)
	commit := git(t, dir, "rev-parse", "HEAD")
	got := read(t, dir)
	want := vcs.Info{
		Repo:        true,
		Describe:    "v1.0.0",
		Commit:      commit,
		ShortCommit: git(t, dir, "rev-parse", "--short", "HEAD"),
		Branch:      "main",
		Time:        commitDate,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Read (-want +got):\n%s", diff)
	}
	if !hex40.MatchString(got.Commit) || !strings.HasPrefix(got.Commit, got.ShortCommit) || got.ShortCommit == "" {
		t.Errorf("Commit %q, ShortCommit %q: want 40 hex digits and a prefix of them", got.Commit, got.ShortCommit)
	}
	if got.Time.Location() != time.UTC {
		t.Errorf("Time %v is not in UTC", got.Time)
	}

	sub := filepath.Join(dir, "cmd", "app")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatalf("making %s: %v", sub, err)
	}
	if diff := cmp.Diff(want, read(t, sub)); diff != "" {
		t.Errorf("Read from a subdirectory (-want +got):\n%s", diff)
	}
}

func TestReadDirty(t *testing.T) {
	hermeticGit(t)
	for _, tc := range []struct {
		name         string
		change       func(t *testing.T, dir string)
		wantDescribe string
		wantDirty    bool
	}{
		{"untracked file", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "new.go"), "package main\n")
		}, "v1.0.0-dirty", true},
		{"untracked file in a new directory", func(t *testing.T, dir string) {
			if err := os.Mkdir(filepath.Join(dir, "app"), 0o755); err != nil {
				t.Fatalf("making app: %v", err)
			}
			writeFile(t, filepath.Join(dir, "app", "zz.go"), "package main\n")
		}, "v1.0.0-dirty", true},
		{"ignored file", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, ".gitignore"), "*.log\n")
			git(t, dir, "add", ".gitignore")
			git(t, dir, "commit", "--quiet", "-m", "ignore logs")
			git(t, dir, "tag", "-f", "v1.0.0")
			writeFile(t, filepath.Join(dir, "debug.log"), "noise\n")
		}, "v1.0.0", false},
		{"empty new directory", func(t *testing.T, dir string) {
			if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
				t.Fatalf("making empty: %v", err)
			}
		}, "v1.0.0", false},
		{"modified tracked file", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "main.go"), "package main // changed\n")
		}, "v1.0.0-dirty", true},
		{"staged change", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "main.go"), "package main // staged\n")
			git(t, dir, "add", "main.go")
		}, "v1.0.0-dirty", true},
		{"deleted tracked file", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "main.go")); err != nil {
				t.Fatalf("removing main.go: %v", err)
			}
		}, "v1.0.0-dirty", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := repo(t)
			tc.change(t, dir)
			got := read(t, dir)
			if got.Describe != tc.wantDescribe || got.Dirty != tc.wantDirty {
				t.Errorf("Describe, Dirty = %q, %t; want %q, %t", got.Describe, got.Dirty, tc.wantDescribe, tc.wantDirty)
			}
		})
	}
}

func TestReadDescribe(t *testing.T) {
	hermeticGit(t)
	t.Run("commit after tag", func(t *testing.T) {
		dir := repo(t)
		git(t, dir, "commit", "--quiet", "--allow-empty", "-m", "second")
		got := read(t, dir)
		if want := "v1.0.0-1-g" + got.ShortCommit; got.Describe != want {
			t.Errorf("Describe = %q, want %q", got.Describe, want)
		}
	})
	t.Run("annotated tag", func(t *testing.T) {
		dir := repo(t)
		git(t, dir, "commit", "--quiet", "--allow-empty", "-m", "second")
		git(t, dir, "tag", "-a", "-m", "release", "v1.1.0")
		if got := read(t, dir).Describe; got != "v1.1.0" {
			t.Errorf("Describe = %q, want %q", got, "v1.1.0")
		}
	})
	t.Run("no tag", func(t *testing.T) {
		dir := repo(t)
		git(t, dir, "tag", "-d", "v1.0.0")
		got := read(t, dir)
		if got.Describe != got.ShortCommit {
			t.Errorf("Describe = %q, want the short commit %q", got.Describe, got.ShortCommit)
		}
	})
	t.Run("detached HEAD", func(t *testing.T) {
		dir := repo(t)
		git(t, dir, "checkout", "--quiet", "--detach")
		if got := read(t, dir).Branch; got != "HEAD" {
			t.Errorf("Branch = %q, want HEAD", got)
		}
	})
}

func TestReadSource(t *testing.T) {
	hermeticGit(t)
	for _, tc := range []struct {
		name    string
		remotes [][2]string // name, URL, added in order
		want    string
	}{
		{"no remote", nil, ""},
		{"origin with credentials", [][2]string{{"origin", "https://user:s3cret@github.com/org/app.git"}},
			"https://github.com/org/app"},
		{"scp-like origin", [][2]string{{"origin", "git@github.com:org/app.git"}}, "https://github.com/org/app"},
		{"origin is preferred", [][2]string{{"fork", "https://github.com/me/app.git"}, {"origin", "https://github.com/org/app.git"}},
			"https://github.com/org/app"},
		{"another remote without origin", [][2]string{{"upstream", "https://github.com/up/app.git"}},
			"https://github.com/up/app"},
		{"local path origin", [][2]string{{"origin", "/srv/git/app.git"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := repo(t)
			for _, r := range tc.remotes {
				git(t, dir, "remote", "add", r[0], r[1])
			}
			got := read(t, dir).Source
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Source (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadWithoutGit(t *testing.T) {
	hermeticGit(t)
	dir := repo(t)
	t.Setenv("PATH", t.TempDir())
	info, err := vcs.Read(context.Background(), dir)
	if !errors.Is(err, vcs.ErrNoGit) {
		t.Errorf("Read with no git on PATH = %+v, %v; want %v", info, err, vcs.ErrNoGit)
	}
}

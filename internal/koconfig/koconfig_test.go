package koconfig_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/buildercli/builder/internal/koconfig"
)

const realistic = `# ko configuration of the example service
defaultBaseImage: cgr.dev/chainguard/static
defaultPlatforms:
  - linux/arm64
  - linux/amd64
defaultEnv:
  - GOEXPERIMENT=loopvar
defaultFlags:
  - -tags=netgo
defaultLdflags:
  - -s -w
baseImageOverrides:
  example.com/app/cmd/tool: gcr.io/distroless/base
builds:
  - id: app
    dir: .
    main: ./cmd/app
    env:
      - GOFLAGS=-mod=vendor
    flags:
      - -tags
      - netgo,osusergo
    ldflags:
      - -X main.version={{.Git.Tag}}
      - -X main.date={{.Date}}
    goarch: arm64
  - id: tool
    dir: ./tools
    main: ./cmd/tool
    mod_timestamp: "{{.CommitTimestamp}}"
  - id: other
    main: ./cmd/other
    env: []
`

func parse(t *testing.T, data, dir string) *koconfig.Config {
	t.Helper()
	cfg, err := koconfig.Parse([]byte(data), dir)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg
}

func TestParse(t *testing.T) {
	got := parse(t, realistic, "/src/app")
	want := &koconfig.Config{
		DefaultBaseImage:   "cgr.dev/chainguard/static",
		BaseImageOverrides: map[string]string{"example.com/app/cmd/tool": "gcr.io/distroless/base"},
		DefaultPlatforms:   []string{"linux/arm64", "linux/amd64"},
		DefaultEnv:         []string{"GOEXPERIMENT=loopvar"},
		DefaultFlags:       []string{"-tags=netgo"},
		DefaultLdflags:     []string{"-s -w"},
		Builds: []koconfig.Build{
			{
				ID: "app", Dir: ".", Main: "./cmd/app",
				Env:     []string{"GOFLAGS=-mod=vendor"},
				Flags:   []string{"-tags", "netgo,osusergo"},
				Ldflags: []string{"-X main.version={{.Git.Tag}}", "-X main.date={{.Date}}"},
			},
			{ID: "tool", Dir: "./tools", Main: "./cmd/tool"},
			{ID: "other", Main: "./cmd/other", Env: []string{}},
		},
		Ignored: []string{"builds[0].goarch", "builds[1].mod_timestamp"},
		Dir:     "/src/app",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, tc := range []struct {
		name, data string
	}{
		{"empty", ""},
		{"blank lines", "\n\n"},
		{"comments only", "# nothing here\n# yet\n"},
		{"document marker", "---\n"},
		{"null", "~\n"},
		{"empty mapping", "{}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parse(t, tc.data, "dir")
			if diff := cmp.Diff(&koconfig.Config{Dir: "dir"}, got); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tc.data, diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, data string
	}{
		{"bad indentation", "builds:\n  - id: a\n   main: b\n"},
		{"unclosed flow", "defaultPlatforms: [linux/amd64\n"},
		{"tab indentation", "builds:\n\t- id: a\n"},
		{"list at top", "- linux/amd64\n"},
		{"wrong type", "defaultPlatforms: linux/amd64\n"},
		{"builds not a list", "builds:\n  id: a\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if cfg, err := koconfig.Parse([]byte(tc.data), "."); err == nil {
				t.Errorf("Parse(%q) = %+v, want an error", tc.data, cfg)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, ".ko.yaml")
	if err := os.WriteFile(p, []byte("defaultPlatforms: [linux/arm64]\nverbose: true\n"), 0o644); err != nil {
		t.Fatalf("writing %s: %v", p, err)
	}
	got, err := koconfig.Load(p)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &koconfig.Config{DefaultPlatforms: []string{"linux/arm64"}, Ignored: []string{"verbose"}, Dir: dir}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
}

func TestLoadMissing(t *testing.T) {
	dir := t.TempDir()
	got, err := koconfig.Load(filepath.Join(dir, ".ko.yaml"))
	if err != nil {
		t.Fatalf("Load of a missing file: %v", err)
	}
	if diff := cmp.Diff(&koconfig.Config{Dir: dir}, got); diff != "" {
		t.Errorf("Load of a missing file (-want +got):\n%s", diff)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("builds: [\n"), 0o644); err != nil {
		t.Fatalf("writing %s: %v", bad, err)
	}
	for _, tc := range []struct {
		name, path string
	}{
		{"invalid YAML", bad},
		{"a directory", dir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if cfg, err := koconfig.Load(tc.path); err == nil {
				t.Errorf("Load(%s) = %+v, want an error", tc.path, cfg)
			}
		})
	}
}

func TestFind(t *testing.T) {
	root := t.TempDir()
	cfg := parse(t, realistic, root)
	for _, tc := range []struct {
		name      string
		pkgDir    string
		want      koconfig.Build
		wantFound bool
	}{
		{
			name:   "dir and main",
			pkgDir: filepath.Join(root, "cmd", "app"),
			want: koconfig.Build{
				ID: "app", Dir: ".", Main: "./cmd/app",
				Env:     []string{"GOFLAGS=-mod=vendor"},
				Flags:   []string{"-tags", "netgo,osusergo"},
				Ldflags: []string{"-X main.version={{.Git.Tag}}", "-X main.date={{.Date}}"},
			},
			wantFound: true,
		},
		{
			name:   "unclean path",
			pkgDir: root + "/cmd/./app/",
			want: koconfig.Build{
				ID: "app", Dir: ".", Main: "./cmd/app",
				Env:     []string{"GOFLAGS=-mod=vendor"},
				Flags:   []string{"-tags", "netgo,osusergo"},
				Ldflags: []string{"-X main.version={{.Git.Tag}}", "-X main.date={{.Date}}"},
			},
			wantFound: true,
		},
		{
			name:   "main relative to dir, defaults fill the rest",
			pkgDir: filepath.Join(root, "tools", "cmd", "tool"),
			want: koconfig.Build{
				ID: "tool", Dir: "./tools", Main: "./cmd/tool",
				Env:     []string{"GOEXPERIMENT=loopvar"},
				Flags:   []string{"-tags=netgo"},
				Ldflags: []string{"-s -w"},
			},
			wantFound: true,
		},
		{
			name:   "explicit empty env is kept",
			pkgDir: filepath.Join(root, "cmd", "other"),
			want: koconfig.Build{
				ID: "other", Main: "./cmd/other",
				Env:     []string{},
				Flags:   []string{"-tags=netgo"},
				Ldflags: []string{"-s -w"},
			},
			wantFound: true,
		},
		{
			name:   "main without dir does not match",
			pkgDir: filepath.Join(root, "cmd", "tool"),
			want: koconfig.Build{
				Env:     []string{"GOEXPERIMENT=loopvar"},
				Flags:   []string{"-tags=netgo"},
				Ldflags: []string{"-s -w"},
			},
		},
		{
			name:   "not listed",
			pkgDir: filepath.Join(root, "cmd", "unknown"),
			want: koconfig.Build{
				Env:     []string{"GOEXPERIMENT=loopvar"},
				Flags:   []string{"-tags=netgo"},
				Ldflags: []string{"-s -w"},
			},
		},
		{
			name:   "the config's own directory",
			pkgDir: root,
			want: koconfig.Build{
				Env:     []string{"GOEXPERIMENT=loopvar"},
				Flags:   []string{"-tags=netgo"},
				Ldflags: []string{"-s -w"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, found := cfg.Find(tc.pkgDir)
			if found != tc.wantFound {
				t.Errorf("Find(%s) found = %t, want %t", tc.pkgDir, found, tc.wantFound)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Find(%s) (-want +got):\n%s", tc.pkgDir, diff)
			}
		})
	}
}

// Find resolves a relative Config.Dir and package directory against the
// working directory.
func TestFindRelative(t *testing.T) {
	root := t.TempDir()
	t.Chdir(root)
	cfg := parse(t, "builds:\n  - id: app\n    main: ./cmd/app\n", ".")
	for _, pkgDir := range []string{"cmd/app", "./cmd/app", filepath.Join(root, "cmd", "app")} {
		t.Run(pkgDir, func(t *testing.T) {
			got, found := cfg.Find(pkgDir)
			if !found || got.ID != "app" {
				t.Errorf("Find(%q) = %+v, %t; want build app", pkgDir, got, found)
			}
		})
	}
}

func TestFindNoConfig(t *testing.T) {
	got, found := (&koconfig.Config{Dir: t.TempDir()}).Find(".")
	if found {
		t.Errorf("Find on an empty config found %+v", got)
	}
	if diff := cmp.Diff(koconfig.Build{}, got); diff != "" {
		t.Errorf("Find on an empty config (-want +got):\n%s", diff)
	}
}

var data = koconfig.Data{
	Env:       map[string]string{"X": "ex", "EMPTY": ""},
	Date:      "2024-03-04T05:06:07Z",
	Timestamp: "1709528767",
	Git: koconfig.Git{
		Branch: "main", Tag: "v1.2.3", ShortCommit: "abc1234", FullCommit: "abc1234def",
		CommitDate: "2024-03-04T05:06:07Z", CommitTimestamp: "1709528767",
		IsDirty: false, IsClean: true, TreeState: "clean",
	},
}

func TestRender(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in, want []string
	}{
		{"nothing", []string{}, []string{}},
		{"plain", []string{"-s", "-w"}, []string{"-s", "-w"}},
		{"git tag", []string{"-X main.version={{.Git.Tag}}"}, []string{"-X main.version=v1.2.3"}},
		{"env", []string{"-X main.x={{.Env.X}}", "[{{.Env.EMPTY}}]"}, []string{"-X main.x=ex", "[]"}},
		{"date and timestamp", []string{"{{.Date}}", "{{.Timestamp}}"}, []string{"2024-03-04T05:06:07Z", "1709528767"}},
		{"git fields", []string{"{{.Git.Branch}}@{{.Git.FullCommit}} {{.Git.TreeState}} {{if .Git.IsClean}}clean{{end}}"},
			[]string{"main@abc1234def clean clean"}},
		{"several in one", []string{"-X main.v={{.Git.Tag}} -X main.c={{.Git.ShortCommit}} -X main.d={{.Git.CommitDate}}"},
			[]string{"-X main.v=v1.2.3 -X main.c=abc1234 -X main.d=2024-03-04T05:06:07Z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := koconfig.Render(tc.in, data)
			if err != nil {
				t.Fatalf("Render(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Render(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
	}{
		{"missing env key", []string{"-X main.x={{.Env.NOPE}}"}},
		{"missing env key after a good one", []string{"-s", "{{.Env.X}}", "{{.Env.NOPE}}"}},
		{"unknown field", []string{"{{.Version}}"}},
		{"unknown git field", []string{"{{.Git.Tags}}"}},
		{"unclosed action", []string{"{{.Git.Tag"}},
		{"unknown function", []string{"{{nope .Git.Tag}}"}},
		{"unterminated if", []string{"{{if .Git.IsDirty}}dirty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := koconfig.Render(tc.in, data); err == nil {
				t.Errorf("Render(%q) = %q, want an error", tc.in, got)
			}
		})
	}
}

func TestEnvMap(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want map[string]string
	}{
		{"empty", nil, map[string]string{}},
		{"pairs", []string{"A=1", "B=two"}, map[string]string{"A": "1", "B": "two"}},
		{"value with equals", []string{"A=x=y"}, map[string]string{"A": "x=y"}},
		{"empty value", []string{"A="}, map[string]string{"A": ""}},
		{"later wins", []string{"A=1", "A=2"}, map[string]string{"A": "2"}},
		{"no equals is skipped", []string{"A", "B=1"}, map[string]string{"B": "1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, koconfig.EnvMap(tc.in)); diff != "" {
				t.Errorf("EnvMap(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"builder": main})
}

// TestScripts runs each testdata/*.txtar as a CLI session against a real
// compile. Set UPDATE_SCRIPTS=1 to refresh golden output.
func TestScripts(t *testing.T) {
	goEnv := goEnvVars(t, "GOCACHE", "GOMODCACHE", "GOPATH", "GOPROXY", "GOFLAGS")
	testscript.Run(t, testscript.Params{
		Dir:           "testdata",
		UpdateScripts: os.Getenv("UPDATE_SCRIPTS") == "1",
		Setup: func(e *testscript.Env) error {
			e.Vars = append(e.Vars, goEnv...)
			return nil
		},
	})
}

// goEnvVars returns "KEY=value" for each go env setting, so that the scripts'
// compiles share the real build and module caches.
func goEnvVars(t *testing.T, keys ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"env"}, keys...)...).Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	vals := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(vals) != len(keys) {
		t.Fatalf("go env printed %d values for %d keys", len(vals), len(keys))
	}
	vars := make([]string, len(keys))
	for i, k := range keys {
		vars[i] = k + "=" + vals[i]
	}
	return vars
}

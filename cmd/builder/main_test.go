package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/buildercli/builder/internal/registrytest"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"builder": main})
}

// TestScripts runs each testdata/*.txtar as a CLI session against a real
// compile and, for publish and login, a registry of its own on loopback,
// named by $REGISTRY. Set UPDATE_SCRIPTS=1 to refresh golden output.
func TestScripts(t *testing.T) {
	goEnv := goEnvVars(t, "GOCACHE", "GOMODCACHE", "GOPATH", "GOPROXY", "GOFLAGS")
	testscript.Run(t, testscript.Params{
		Dir:           "testdata",
		UpdateScripts: os.Getenv("UPDATE_SCRIPTS") == "1",
		Setup: func(e *testscript.Env) error {
			e.Vars = append(e.Vars, goEnv...)
			return setupScript(e)
		},
		Cmds: scriptCmds,
	})
}

// setupScript gives a script its own registry ($REGISTRY), builder cache
// and docker config, and keeps the machine's git configuration out of it,
// so that no script depends on the machine or on another script.
func setupScript(e *testscript.Env) error {
	tb := e.T().(testing.TB) // Run's T is a testing.TB
	reg := registrytest.New(tb, registrytest.Config{})
	e.Values[registryKey{}] = reg
	e.Setenv("REGISTRY", reg.Host)
	e.Setenv("BUILDER_CACHE", tb.TempDir())
	e.Setenv("DOCKER_CONFIG", filepath.Join(e.WorkDir, ".docker"))
	e.Setenv("GIT_CONFIG_GLOBAL", os.DevNull)
	e.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	return nil
}

// goEnvVars returns "KEY=value" for each go env setting, so that the scripts'
// compiles share the real build and module caches. An unset setting, such
// as GOFLAGS on a fresh machine, gives "KEY=".
func goEnvVars(t *testing.T, keys ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"env", "-json"}, keys...)...).Output()
	if err != nil {
		t.Fatalf("go env -json: %v", err)
	}
	var env map[string]string
	if err := json.Unmarshal(out, &env); err != nil {
		t.Fatalf("reading go env -json: %v", err)
	}
	vars := make([]string, len(keys))
	for i, k := range keys {
		v, ok := env[k]
		if !ok {
			t.Fatalf("go env -json printed no %s", k)
		}
		vars[i] = k + "=" + v
	}
	return vars
}

package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogin logs in to a registry with TLS and htpasswd auth, as docker
// login would, and checks what reached config.json and what did not reach
// the output.
func TestLogin(t *testing.T) {
	requireRegistryTools(t)
	b := built(t)
	t.Parallel()
	reg := startRegistry(t, true)
	dockerDir := t.TempDir()
	env := reg.env(dockerDir, t.TempDir())
	cfgFile := filepath.Join(dockerDir, "config.json")
	login := func(t *testing.T, password string) outcome {
		t.Helper()
		return runBuilder(t, b.builder, t.TempDir(), env, password+"\n",
			"login", reg.host, "-u", regUser, "--password-stdin")
	}

	t.Run("right password", func(t *testing.T) {
		res := login(t, regPass)
		if res.code != 0 {
			t.Fatalf("login failed: %v", res)
		}
		if strings.Contains(res.stdout+res.stderr, regPass) {
			t.Errorf("the password appears in the output: %v", res)
		}
		if got := storedAuth(t, cfgFile, reg.host); got != regUser+":"+regPass {
			t.Errorf("config.json holds %q for %s, want the user and password", got, reg.host)
		}
		// Another client reads the stored credentials.
		out, _, err := invocation{Env: env}.run(reg.crane, "catalog", reg.host)
		if err != nil {
			t.Errorf("crane catalog with the stored credentials: %v", err)
		}
		t.Logf("crane catalog: %q", out)
	})
	t.Run("wrong password", func(t *testing.T) {
		before, err := os.ReadFile(cfgFile)
		if err != nil {
			t.Fatalf("the right password's login wrote no config: %v", err)
		}
		wrong := "wrong-" + regPass
		res := login(t, wrong)
		if res.code == 0 {
			t.Fatalf("login with a wrong password succeeded: %v", res)
		}
		lines := strings.Split(strings.TrimSuffix(res.stderr, "\n"), "\n")
		if len(lines) != 1 || !strings.Contains(lines[0], "credentials") {
			t.Errorf("want one stderr line about the credentials: %v", res)
		}
		if strings.Contains(res.stdout+res.stderr, wrong) {
			t.Errorf("the password appears in the output: %v", res)
		}
		after, err := os.ReadFile(cfgFile)
		if err != nil {
			t.Fatalf("reading config.json: %v", err)
		}
		if !bytes.Equal(before, after) {
			t.Errorf("a failed login changed config.json:\nbefore: %s\nafter:  %s", before, after)
		}
	})
}

// storedAuth returns the decoded user:password that the docker config file
// holds for host, failing t when it holds none.
func storedAuth(t *testing.T, file, host string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("reading the docker config: %v", err)
	}
	var cfg struct {
		Auths map[string]struct{ Auth string }
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("decoding %s: %v\n%s", file, err, data)
	}
	entry, ok := cfg.Auths[host]
	if !ok {
		t.Fatalf("%s has no auths entry for %s:\n%s", file, host, data)
	}
	auth, err := base64.StdEncoding.DecodeString(entry.Auth)
	if err != nil {
		t.Fatalf("decoding the auth of %s: %v", host, err)
	}
	return string(auth)
}

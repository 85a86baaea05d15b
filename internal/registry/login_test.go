package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/buildercli/builder/internal/registrytest"
)

// dockerConfig is the part of docker's config.json Login writes.
type dockerConfig struct {
	Auths    map[string]struct{ Auth string } `json:"auths"`
	PsFormat string                           `json:"psFormat"`
}

// readAuths returns the "user:pass" of each registry in dir's config.json,
// and its psFormat.
func readAuths(t *testing.T, dir string) (map[string]string, string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatalf("reading config.json: %v", err)
	}
	var cf dockerConfig
	if err := json.Unmarshal(data, &cf); err != nil {
		t.Fatalf("parsing config.json: %v\n%s", err, data)
	}
	out := map[string]string{}
	for host, a := range cf.Auths {
		plain, err := base64.StdEncoding.DecodeString(a.Auth)
		if err != nil {
			t.Fatalf("decoding the auth of %s: %v", host, err)
		}
		out[host] = string(plain)
	}
	return out, cf.PsFormat
}

func loginRegistry(t *testing.T) (*registrytest.Registry, name.Registry) {
	t.Helper()
	reg := registrytest.New(t, registrytest.Config{SeparateRepos: true})
	reg.RequireAuth("ci", "s3cret")
	r, err := name.NewRegistry(reg.Host)
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	return reg, r
}

func TestLogin(t *testing.T) {
	t.Parallel()
	existing := `{"auths":{"other.test":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("me:pw")) + `"}},"psFormat":"table"}`
	for _, tc := range []struct {
		name       string
		config     string // config.json before, "" for none
		wantOthers map[string]string
		wantPs     string
	}{
		{name: "no config yet", wantOthers: map[string]string{}},
		{name: "a config with other entries", config: existing, wantOthers: map[string]string{"other.test": "me:pw"}, wantPs: "table"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg, r := loginRegistry(t)
			dir := t.TempDir()
			if tc.config != "" {
				if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(tc.config), 0o600); err != nil {
					t.Fatalf("writing config.json: %v", err)
				}
			}
			path, err := Client{}.Login(context.Background(), r, "ci", "s3cret", dir)
			if err != nil {
				t.Fatalf("Login: %v", err)
			}
			if want := filepath.Join(dir, "config.json"); path != want {
				t.Errorf("Login wrote %s, want %s", path, want)
			}
			auths, ps := readAuths(t, dir)
			want := map[string]string{reg.Host: "ci:s3cret"}
			for k, v := range tc.wantOthers {
				want[k] = v
			}
			if diff := cmp.Diff(want, auths); diff != "" {
				t.Errorf("auths in config.json (-want +got):\n%s", diff)
			}
			if ps != tc.wantPs {
				t.Errorf("psFormat = %q, want %q kept", ps, tc.wantPs)
			}
		})
	}
}

func TestLoginRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, user, pass string }{
		{"wrong password", "ci", "wrong"},
		{"unknown user", "someone", "s3cret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg, r := loginRegistry(t)
			dir := t.TempDir()
			_, err := Client{}.Login(context.Background(), r, tc.user, tc.pass, dir)
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("Login = %v, want an error wrapping ErrAuth", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, reg.Host) || strings.ContainsAny(msg, "\n\r") {
				t.Errorf("Login error = %q, want one line naming %s", msg, reg.Host)
			}
			if _, err := os.Stat(filepath.Join(dir, "config.json")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a refused login touched config.json: %v", err)
			}
		})
	}
}

// TestLoginThenPush checks that what Login stores is what the default
// keychain finds.
func TestLoginThenPush(t *testing.T) {
	reg, r := loginRegistry(t)
	dir := t.TempDir()
	t.Setenv("HOME", t.TempDir())
	t.Setenv("DOCKER_CONFIG", dir)
	if _, err := (Client{}).Login(context.Background(), r, "ci", "s3cret", dir); err != nil {
		t.Fatalf("Login: %v", err)
	}
	s, err := Client{}.Open(reg.Repo(t, "app")) // the default keychain
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if _, err := s.Push(context.Background(), ociImage(t, 1)); err != nil {
		t.Fatalf("Push with the stored credentials: %v", err)
	}
}

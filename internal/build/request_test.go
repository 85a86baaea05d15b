package build

import (
	"strings"
	"testing"

	"github.com/buildercli/builder/internal/registry"
)

func TestValidate(t *testing.T) {
	ok := Request{}
	for _, tc := range []struct {
		name    string
		edit    func(*Request)
		wantErr string // "" for none
	}{
		{"defaults", func(*Request) {}, ""},
		{"semver tag", func(o *Request) { o.Tag = "v1.2.0-rc.1" }, ""},
		{"tag with slash", func(o *Request) { o.Tag = "release/1" }, "not a valid image tag"},
		{"tag with plus", func(o *Request) { o.Tag = "v1+build" }, "not a valid image tag"},
		{"tag starting with dot", func(o *Request) { o.Tag = ".v1" }, "not a valid image tag"},
		{"tag too long", func(o *Request) { o.Tag = strings.Repeat("a", 129) }, "not a valid image tag"},
		{"uppercase repo", func(o *Request) { o.Repo = "Acme/App" }, "not a valid image name"},
		{"registry repo", func(o *Request) { o.Repo = "localhost:5000/team/app" }, ""},
		{"uid 0", func(o *Request) { o.User = "0" }, "root"},
		{"uid 0 gid 0", func(o *Request) { o.User = "0:0" }, "root"},
		{"root by name", func(o *Request) { o.User = "root" }, "root"},
		{"root allowed", func(o *Request) { o.User, o.AllowRoot = "0", true }, ""},
		{"nonroot by name", func(o *Request) { o.User = "nonroot" }, ""},
		{"arbitrary uid gid 0", func(o *Request) { o.User = "1000650000:0" }, ""},
		{"name", func(o *Request) { o.User = "bob" }, ""},
		{"bad name", func(o *Request) { o.User = "Bob Smith" }, "neither a number"},
		{"group name", func(o *Request) { o.User = "1000:staff" }, ""},
		{"bad group", func(o *Request) { o.User = "1000:St aff" }, "group must be"},
		{"negative uid", func(o *Request) { o.User = "-1" }, "out of range"},
		{"uid 00", func(o *Request) { o.User = "00" }, "root"},
		{"uid +0", func(o *Request) { o.User = "+0" }, "root"},
		{"uid -0", func(o *Request) { o.User = "-0" }, "root"},
		{"uid 00:00", func(o *Request) { o.User = "00:00" }, "root"},
		{"uid 0 with a group name", func(o *Request) { o.User = "0:staff" }, "root"},
		{"label", func(o *Request) { o.Labels = []string{"team=core"} }, ""},
		{"label without value", func(o *Request) { o.Labels = []string{"team"} }, "key=value"},
		{"derived label", func(o *Request) { o.Labels = []string{"org.opencontainers.image.revision=abc"} }, "cannot be overridden"},
		{"env", func(o *Request) { o.Env = []string{"=x"} }, "key=value"},
		{"port", func(o *Request) { o.Ports = []string{"70000"} }, "1 to 65535"},
		{"udp port", func(o *Request) { o.Ports = []string{"53/udp"} }, ""},
		{"no port", func(o *Request) { o.Ports = []string{"none"} }, ""},
		{"env with space in key", func(o *Request) { o.Env = []string{"A B=c"} }, "key=value"},
		{"env with line break", func(o *Request) { o.Env = []string{"K\nEY=v"} }, "key=value"},
		{"blank label key", func(o *Request) { o.Labels = []string{" =v"} }, "key=value"},
		{"annotation", func(o *Request) { o.Annotations = []string{"team=core"} }, ""},
		{"relative workdir", func(o *Request) { o.WorkingDir = "srv" }, "absolute"},
		{"stop signal", func(o *Request) { o.StopSignal = "SIGINT" }, ""},
		{"bad stop signal", func(o *Request) { o.StopSignal = "term" }, "signal"},
		{"healthcheck none", func(o *Request) { o.Healthcheck = "none" }, ""},
		{"healthcheck cmd", func(o *Request) { o.Healthcheck = "cmd:healthcheck" }, ""},
		{"healthcheck http", func(o *Request) { o.Healthcheck = "http:8080/healthz" }, ""},
		{"healthcheck bad", func(o *Request) { o.Healthcheck = "curl localhost" }, "use none, cmd:ARGS"},
		{"healthcheck bad port", func(o *Request) { o.Healthcheck = "http:0/x" }, "1 to 65535"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			tc.edit(&o)
			err := o.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("validate: %v, want no error", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("validate: %v, want an error containing %q", err, tc.wantErr)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Errorf("error %q spans lines", err)
			}
		})
	}
}

func TestSanitizeTag(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.0":              "v1.2.0",
		"v1.2.0-3-gabc-dirty": "v1.2.0-3-gabc-dirty",
		"release/1.0":         "release_1.0",
		"-x":                  "_x",
		"v1+meta":             "v1_meta",
	} {
		if got := sanitizeTag(in); got != want {
			t.Errorf("sanitizeTag(%q) = %q, want %q", in, got, want)
		}
		if err := registry.ValidateTag(sanitizeTag(in)); err != nil {
			t.Errorf("sanitizeTag(%q) is not a valid tag: %v", in, err)
		}
	}
}

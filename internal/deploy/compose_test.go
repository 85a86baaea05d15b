package deploy_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/google/go-cmp/cmp"
	"github.com/sirupsen/logrus"
)

// TestComposeLoads loads compose.yaml with compose-go, the Compose
// specification's reference loader (its schema refuses unknown keys), and
// expects no warning and the hardening the issue asks for.
func TestComposeLoads(t *testing.T) {
	var warnings bytes.Buffer
	logrus.SetOutput(&warnings)
	t.Cleanup(func() { logrus.SetOutput(nil) })

	data := generate(t, appInput())["compose.yaml"]
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  t.TempDir(),
		ConfigFiles: []types.ConfigFile{{Filename: "compose.yaml", Content: data}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) { o.SetProjectName("test", true) })
	if err != nil {
		t.Fatalf("loading compose.yaml:\n%s\n%v", data, err)
	}
	if warnings.Len() > 0 {
		t.Errorf("compose-go warned: %s", warnings.String())
	}
	s, err := p.GetService("app")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{
		"image": s.Image, "user": s.User, "read_only": s.ReadOnly, "cap_drop": s.CapDrop,
		"security_opt": s.SecurityOpt, "tmpfs": []string(s.Tmpfs), "mem_limit": int64(s.MemLimit),
		"cpus": s.CPUS, "port": s.Ports[0].Target, "healthcheck": []string(s.HealthCheck.Test),
		"PORT": *s.Environment["PORT"],
	}
	want := map[string]any{
		"image": image, "user": "65532:65532", "read_only": true, "cap_drop": []string{"ALL"},
		"security_opt": []string{"no-new-privileges:true"}, "tmpfs": []string{"/tmp"}, "mem_limit": int64(256 << 20),
		"cpus": float32(1), "port": uint32(8080), "healthcheck": []string{"CMD", "/usr/local/bin/app", "healthcheck"},
		"PORT": "8080",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("compose service (-want +got):\n%s", diff)
	}
}

package deploy_test

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/buildercli/builder/internal/deploy"
	"github.com/buildercli/builder/internal/registry"
)

// TestReadConfig pushes an image to an in-process registry and reads its
// config back by digest; a tag is refused, as manifests pin digests.
func TestReadConfig(t *testing.T) {
	s := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(s.Close)
	host := strings.TrimPrefix(s.URL, "http://")
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.Config(img, appConfig().Config)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(host + "/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatalf("pushing: %v", err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	c := registry.New(nil)
	cf, err := deploy.ReadConfig(context.Background(), c, host+"/app@"+d.String())
	if err != nil {
		t.Fatalf("ReadConfig: %v", err)
	}
	if diff := cmp.Diff(appConfig().Config.User, cf.Config.User); diff != "" {
		t.Errorf("user (-want +got):\n%s", diff)
	}
	if _, err := deploy.ReadConfig(context.Background(), c, host+"/app:v1"); err == nil || !strings.Contains(err.Error(), "names no digest") {
		t.Errorf("ReadConfig of a tag: %v, want an error asking for a digest", err)
	}
}

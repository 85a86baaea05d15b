package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// dockerHubServer is the key docker uses for Docker Hub in config.json.
const dockerHubServer = "https://index.docker.io/v1/"

// Login checks username and password against reg, then stores them as
// `docker login` does: in config.json under configDir (docker's default
// when empty), or in the credential helper it names. It returns the path
// of the config file.
func (c Client) Login(ctx context.Context, reg name.Registry, username, password, configDir string) (string, error) {
	if err := checkLogin(ctx, reg, username, password, c.transport()); err != nil {
		return "", fmt.Errorf("logging in to %s: %w", reg.RegistryStr(), Explain(reg, err))
	}
	cf, err := config.Load(configDir)
	if err != nil {
		return "", fmt.Errorf("reading the docker config: %w", err)
	}
	server := reg.RegistryStr()
	if server == name.DefaultRegistry {
		server = dockerHubServer
	}
	err = cf.GetCredentialsStore(server).Store(types.AuthConfig{
		ServerAddress: server, Username: username, Password: password,
	})
	if err != nil {
		return "", fmt.Errorf("storing credentials for %s in %s: %w", server, cf.Filename, err)
	}
	return cf.Filename, nil
}

func checkLogin(ctx context.Context, reg name.Registry, username, password string, tr http.RoundTripper) error {
	auth := authn.FromConfig(authn.AuthConfig{Username: username, Password: password})
	rt, err := transport.NewWithContext(ctx, reg, auth, tr, []string{reg.Scope(transport.PullScope)})
	if err != nil {
		return err
	}
	// Like ggcr's ping: HTTPS first, then plain HTTP where the registry's
	// scheme allows it (loopback, or --insecure-registry).
	schemes := []string{"https"}
	if reg.Scheme() == "http" {
		schemes = append(schemes, "http")
	}
	for i, scheme := range schemes {
		err = getV2(ctx, &http.Client{Transport: rt}, scheme+"://"+reg.RegistryStr()+"/v2/")
		if err == nil || i == len(schemes)-1 {
			return err
		}
		var status *transport.Error
		if errors.As(err, &status) {
			return err
		}
	}
	return err
}

func getV2(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return transport.CheckError(resp, http.StatusOK)
}

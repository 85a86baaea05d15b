package e2e

// Clients of the registry fixture: builder's environment, and crane and
// skopeo, which read the registry independently of builder.

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// dockerConfig writes, into a new directory, a docker config.json that holds
// user:password for each host, and returns the directory.
func dockerConfig(t *testing.T, user, password string, hosts ...string) string {
	t.Helper()
	auths := map[string]map[string]string{}
	for _, h := range hosts {
		auths[h] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + password))}
	}
	data, err := json.Marshal(map[string]any{"auths": auths})
	if err != nil {
		t.Fatalf("encoding a docker config: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o600); err != nil {
		t.Fatalf("writing a docker config: %v", err)
	}
	return dir
}

// env returns what builder and crane need in their environment to reach r:
// its CA, the docker config dockerDir (r's own when empty), a builder cache
// in cacheDir, and no repository from the environment.
func (r *registry) env(dockerDir, cacheDir string) []string {
	if dockerDir == "" {
		dockerDir = r.dockerDir
	}
	return []string{"SSL_CERT_FILE=" + r.caFile, "DOCKER_CONFIG=" + dockerDir, "BUILDER_CACHE=" + cacheDir,
		"BUILDER_REPO=", "KO_DOCKER_REPO="}
}

// craneRun runs crane against r with the right credentials.
func (r *registry) craneRun(args ...string) (stdout, stderr string, err error) {
	return invocation{Env: r.env("", "")}.run(r.crane, args...)
}

// mustCrane runs crane against r and returns its stdout, failing t if it fails.
func (r *registry) mustCrane(t *testing.T, args ...string) string {
	t.Helper()
	out, _, err := r.craneRun(args...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return out
}

// tags lists the tags of repo (a path in r), sorted, as crane sees them,
// but for the referrers fallback tags of supply-chain records
// (sha256-<digest>), which are tested on their own.
func (r *registry) tags(t *testing.T, repo string) []string {
	t.Helper()
	var tags []string
	for _, tag := range strings.Fields(r.mustCrane(t, "ls", r.host+"/"+repo)) {
		if !strings.HasPrefix(tag, "sha256-") {
			tags = append(tags, tag)
		}
	}
	sort.Strings(tags)
	return tags
}

// tagDigests maps each tag of repo to the digest crane resolves it to.
func (r *registry) tagDigests(t *testing.T, repo string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, tag := range r.tags(t, repo) {
		m[tag] = strings.TrimSpace(r.mustCrane(t, "digest", r.host+"/"+repo+":"+tag))
	}
	return m
}

// skopeoAuth returns skopeo's flags to trust r's CA and log in, with flag
// names starting with prefix ("" for inspect, "src-" for copy).
func (r *registry) skopeoAuth(prefix string) []string {
	return []string{"--" + prefix + "cert-dir", r.certDir, "--" + prefix + "creds", regUser + ":" + regPass}
}

// skopeoDigest returns the manifest digest of ref (a path:tag in r), as
// skopeo reads it.
func (r *registry) skopeoDigest(t *testing.T, ref string) string {
	t.Helper()
	args := append([]string{"inspect"}, r.skopeoAuth("")...)
	args = append(args, "--format", "{{.Digest}}", "docker://"+r.host+"/"+ref)
	return strings.TrimSpace(mustRun(t, "skopeo", args...))
}

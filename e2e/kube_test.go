package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

// TestKubePlay runs the Deployment builder manifests writes for the app,
// pulled from a real registry, with podman kube play: the container runs as
// the image's non-root uid with a read-only root and the memory limit set,
// and answers /ping. The liveness probe is the image's own healthcheck.
//
// The probes are not played, and `podman healthcheck run` is not checked:
// podman 4.3 turns a probe into a CMD-SHELL healthcheck, which needs
// /bin/sh, so on a shell-less image it can never pass (it runs
// ["CMD-SHELL", "/usr/local/bin/app", "healthcheck", "||", "exit", "1"]);
// a failing startup check makes podman start the container again; and kube
// play takes no HEALTHCHECK from the image instead.
func TestKubePlay(t *testing.T) {
	built(t)
	t.Parallel()
	reg := startRegistry(t, false)
	pub := newPublisher(t, reg)
	repo := reg.host + "/team/kube"
	var res struct{ Digest string }
	if err := json.Unmarshal([]byte(pub.publish(t, "--tag", "v1.2.3", "--repo", repo, "--json").stdout), &res); err != nil {
		t.Fatal(err)
	}
	out := pub.run(t, nil, "manifests", "./app", "--image", repo+"@"+res.Digest, "--kind", "deployment")
	if out.code != 0 {
		t.Fatalf("builder manifests: %v", out)
	}
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict([]byte(out.stdout), &d); err != nil {
		t.Fatalf("decoding the Deployment: %v\n%s", err, out.stdout)
	}
	// On this machine the pod shares the host's network, so that the test
	// reaches it; the app listens on a free port.
	port := freePort(t)
	pod := &d.Spec.Template.Spec
	pod.HostNetwork = true
	c := &pod.Containers[0]
	for i := range c.Env {
		if c.Env[i].Name == "PORT" {
			c.Env[i].Value = strconv.Itoa(port)
		}
	}
	c.Ports = nil
	if c.LivenessProbe == nil || c.LivenessProbe.Exec == nil || strings.Join(c.LivenessProbe.Exec.Command, " ") != "/usr/local/bin/app healthcheck" {
		t.Errorf("liveness probe %+v, want the image's own healthcheck", c.LivenessProbe)
	}
	// podman turns probes into CMD-SHELL healthchecks, which a shell-less
	// image cannot run (see above), and starts the container again when
	// its startup check fails: it plays the Deployment without them.
	c.LivenessProbe, c.ReadinessProbe, c.StartupProbe = nil, nil, nil
	data, err := yaml.Marshal(&d)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "deploy.yaml")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	e := engineCLI{p: newPodman(t), conf: filepath.Join(t.TempDir(), "containers.conf")}
	if err := os.WriteFile(e.conf, []byte(podmanConf), 0o644); err != nil {
		t.Fatal(err)
	}
	e.must(t, "kube", "play", "--tls-verify=false", file)
	t.Cleanup(func() {
		if _, _, err := (invocation{Env: []string{"CONTAINERS_CONF=" + e.conf}}).run("podman", e.args("kube", "down", file)...); err != nil {
			t.Errorf("podman kube down: %v", err)
		}
	})
	name := ""
	for _, n := range strings.Fields(e.must(t, "ps", "--format", "{{.Names}}")) {
		if strings.HasSuffix(n, "-"+c.Name) {
			name = n
		}
	}
	if name == "" {
		t.Fatalf("no container %s running:\n%s", c.Name, e.must(t, "ps", "-a"))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/ping", port))
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pod does not answer /ping after 30 s (%v)\n%s", err, e.must(t, "logs", name))
		}
		time.Sleep(300 * time.Millisecond)
	}
	type inspected struct {
		State      struct{ Pid int }
		HostConfig struct {
			ReadonlyRootfs bool
			Memory         int64
		}
	}
	inspect := func() inspected {
		var in []inspected
		if err := json.Unmarshal([]byte(e.must(t, "inspect", name)), &in); err != nil || len(in) != 1 {
			t.Fatalf("podman inspect %s: %v", name, err)
		}
		return in[0]
	}
	in := inspect()
	if !in.HostConfig.ReadonlyRootfs {
		t.Error("the root filesystem is writable")
	}
	if want := c.Resources.Limits.Memory().Value(); in.HostConfig.Memory != want {
		t.Errorf("memory limit %d, want %d", in.HostConfig.Memory, want)
	}
	// podman may start the container again (the Deployment's restart
	// policy), so its process is looked up afresh until it is read.
	var status []byte
	for range 20 {
		if status, err = os.ReadFile(fmt.Sprintf("/proc/%d/status", inspect().State.Pid)); err == nil {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("reading the container's process: %v\n%s", err, e.must(t, "logs", name))
	}
	uid := strconv.FormatInt(*pod.SecurityContext.RunAsUser, 10)
	if !strings.Contains(string(status), "\nUid:\t"+uid+"\t") || uid == "0" {
		t.Errorf("the container's process runs as %q, want uid %s:\n%s", grepLine(string(status), "Uid:"), uid, status)
	}
}

func grepLine(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

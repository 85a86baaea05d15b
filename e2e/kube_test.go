package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// TestKubePlay runs the Deployment builder manifests writes for the app,
// pulled from a real registry, with podman kube play, probes and all: the
// container runs as the image's non-root uid with a read-only root and the
// memory limit set, answers /ping, and `podman healthcheck run` passes.
//
// podman 4.3 turns the liveness probe into a CMD-SHELL healthcheck
// (["CMD-SHELL", "/usr/local/bin/app", "healthcheck", "||", "exit", "1"]),
// which needs /bin/sh, and would turn an HTTP GET into curl; it plays no
// startup or readiness probe. So the app is built here on a base with a
// shell (pushShellBase: static busybox as /bin/sh, still run as 65532):
// on builder's shell-less default base the check could never pass. The
// probes themselves are exec probes of the image's own HEALTHCHECK (see
// internal/deploy's TestDeploymentHardened), which Kubernetes runs on any
// image.
func TestKubePlay(t *testing.T) {
	built(t)
	t.Parallel()
	reg := startRegistry(t, false)
	pub := newPublisher(t, reg)
	baseRef := reg.host + "/base/shell:v1"
	pushShellBase(t, reg, baseRef)
	repo := reg.host + "/team/kube"
	var res struct{ Digest string }
	if err := json.Unmarshal([]byte(pub.publish(t, "--tag", "v1.2.3", "--repo", repo, "--json",
		"--base", baseRef, "--platform", "linux/"+runtime.GOARCH).stdout), &res); err != nil {
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
	// reaches it; the app listens on a free port. podman 4.3 plays each
	// replica as a pod of its own: two would contend for the port.
	port := freePort(t)
	one := int32(1)
	d.Spec.Replicas = &one
	pod := &d.Spec.Template.Spec
	pod.HostNetwork = true
	c := &pod.Containers[0]
	for i := range c.Env {
		if c.Env[i].Name == "PORT" {
			c.Env[i].Value = strconv.Itoa(port)
		}
	}
	c.Ports = nil
	for what, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "startup": c.StartupProbe} {
		if p == nil || p.Exec == nil || strings.Join(p.Exec.Command, " ") != healthcheckCmd {
			t.Errorf("%s probe %+v, want the image's own healthcheck", what, p)
		}
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil {
		t.Errorf("readiness probe %+v, want an HTTP GET", p)
	} else {
		p.HTTPGet.Port = intstr.FromInt(port)
	}
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
	podmanRun := func(args ...string) (string, string, error) {
		return invocation{Env: []string{"CONTAINERS_CONF=" + e.conf}}.run("podman", e.args(args...)...)
	}
	e.must(t, "kube", "play", "--tls-verify=false", file)
	t.Cleanup(func() {
		if _, _, err := podmanRun("kube", "down", file); err != nil {
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
		State        struct{ Pid int }
		RestartCount int
		Config       struct{ Healthcheck struct{ Test []string } }
		HostConfig   struct {
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
	// The healthcheck podman made of the liveness probe runs the image's.
	hc := in.Config.Healthcheck.Test
	t.Logf("podman's healthcheck: %q", hc)
	if len(hc) < 2 || !strings.Contains(strings.Join(hc[1:], " "), healthcheckCmd) {
		t.Errorf("podman's healthcheck %q does not run %s", hc, healthcheckCmd)
	}
	// `podman healthcheck run` exits 0 once the container is healthy;
	// the app answered /ping, so it should be at once, but the startup
	// period is allowed for.
	deadline = time.Now().Add(20 * time.Second)
	for {
		stdout, stderr, err := podmanRun("healthcheck", "run", name)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			// A failing check makes podman restart the container (the
			// Deployment's restart policy), so it may be "not running".
			t.Fatalf("podman healthcheck run %s still fails after 20 s: %v\n%s%s\n%s\nlogs:\n%s",
				name, err, stdout, stderr, e.must(t, "ps", "-a"), e.must(t, "logs", name))
		}
		time.Sleep(500 * time.Millisecond)
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
	if n := inspect().RestartCount; n != 0 {
		t.Errorf("podman restarted the container %d times; logs:\n%s", n, e.must(t, "logs", name))
	}
}

// healthcheckCmd is the app image's HEALTHCHECK command (.ko.yaml).
const healthcheckCmd = "/usr/local/bin/app healthcheck"

func grepLine(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

package deploy_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// decoder decodes YAML strictly: an unknown or duplicate field is an error.
func decoder(t *testing.T) runtime.Decoder {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{appsv1.AddToScheme, corev1.AddToScheme, autoscalingv2.AddToScheme, policyv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatalf("building the scheme: %v", err)
		}
	}
	return kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme, kjson.SerializerOptions{Yaml: true, Strict: true})
}

func decode(t *testing.T, data []byte) runtime.Object {
	t.Helper()
	obj, _, err := decoder(t).Decode(data, nil, nil)
	if err != nil {
		t.Fatalf("decoding strictly:\n%s\n%v", data, err)
	}
	return obj
}

// TestStrictDecoderRefusesUnknownFields shows the decoder the other tests
// rely on would catch a field the API does not have.
func TestStrictDecoderRefusesUnknownFields(t *testing.T) {
	data := []byte("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {selectr: {a: b}}\n")
	if _, _, err := decoder(t).Decode(data, nil, nil); !runtime.IsStrictDecodingError(err) {
		t.Fatalf("Decode: %v, want a strict decoding error", err)
	}
}

// TestObjectsDecodeStrictlyAndValidate decodes every generated object into
// its k8s.io/api type, unknown fields refused, and runs the checks the API
// machinery offers offline: metadata, labels and selectors, which must
// select the pods.
func TestObjectsDecodeStrictlyAndValidate(t *testing.T) {
	files := generate(t, appInput())
	podLabels := labels.Set{}
	for _, name := range []string{"deployment.yaml", "service.yaml", "hpa.yaml", "pdb.yaml"} {
		t.Run(name, func(t *testing.T) {
			obj := decode(t, files[name])
			meta, err := metaOf(obj)
			if err != nil {
				t.Fatal(err)
			}
			errs := apivalidation.ValidateObjectMeta(meta, false, apivalidation.NameIsDNS1035Label, field.NewPath("metadata"))
			want := map[string]string{"app.kubernetes.io/name": "app", "app.kubernetes.io/version": "v1.2.0", "app.kubernetes.io/managed-by": "builder"}
			if diff := cmp.Diff(want, meta.Labels); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
			switch o := obj.(type) {
			case *appsv1.Deployment:
				podLabels = o.Spec.Template.Labels
				errs = append(errs, selects(o.Spec.Selector, podLabels)...)
				errs = append(errs, metavalidation.ValidateLabels(podLabels, field.NewPath("template"))...)
				errs = append(errs, checkPod(o.Spec.Template.Spec)...)
			case *corev1.Service:
				errs = append(errs, selects(&metav1.LabelSelector{MatchLabels: o.Spec.Selector}, podLabels)...)
			case *policyv1.PodDisruptionBudget:
				errs = append(errs, selects(o.Spec.Selector, podLabels)...)
			case *autoscalingv2.HorizontalPodAutoscaler:
				if o.Spec.ScaleTargetRef.Name != "app" || *o.Spec.MinReplicas > o.Spec.MaxReplicas {
					t.Errorf("HPA spec %+v", o.Spec)
				}
			}
			for _, e := range errs {
				t.Error(e)
			}
		})
	}
}

func metaOf(obj runtime.Object) (*metav1.ObjectMeta, error) {
	type withMeta interface{ GetObjectMeta() metav1.Object }
	m := obj.(withMeta).GetObjectMeta().(*metav1.ObjectMeta)
	return m, nil
}

// selects validates sel and checks it selects the pods' labels.
func selects(sel *metav1.LabelSelector, pod labels.Set) field.ErrorList {
	p := field.NewPath("selector")
	errs := metavalidation.ValidateLabelSelector(sel, metavalidation.LabelSelectorValidationOptions{}, p)
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() || !s.Matches(pod) {
		errs = append(errs, field.Invalid(p, sel, "does not select the pods"))
	}
	return errs
}

// checkPod checks the names and ports the API server would.
func checkPod(pod corev1.PodSpec) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec")
	for _, c := range pod.Containers {
		for _, msg := range validation.IsDNS1123Label(c.Name) {
			errs = append(errs, field.Invalid(p.Child("containers", "name"), c.Name, msg))
		}
		for _, port := range c.Ports {
			for _, msg := range append(validation.IsValidPortName(port.Name), validation.IsValidPortNum(int(port.ContainerPort))...) {
				errs = append(errs, field.Invalid(p.Child("ports"), port, msg))
			}
		}
	}
	return errs
}

// TestDeploymentHardened checks what the issue asks of the Deployment, on
// the decoded object.
func TestDeploymentHardened(t *testing.T) {
	d := decode(t, generate(t, appInput())["deployment.yaml"]).(*appsv1.Deployment)
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	yes, no, uid := true, false, int64(65532)
	zero := intstr.FromInt32(0)
	seccomp := &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	checks := []struct {
		what      string
		want, got any
	}{
		{"image", image, c.Image},
		{"maxUnavailable", &zero, d.Spec.Strategy.RollingUpdate.MaxUnavailable},
		{"automount", &no, pod.AutomountServiceAccountToken},
		{"grace", int64(15), *pod.TerminationGracePeriodSeconds},
		{"pod securityContext", &corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: &uid, RunAsGroup: &uid, FSGroup: &uid, SeccompProfile: seccomp}, pod.SecurityContext},
		{"container securityContext", &corev1.SecurityContext{
			RunAsNonRoot: &yes, RunAsUser: &uid, RunAsGroup: &uid, ReadOnlyRootFilesystem: &yes, AllowPrivilegeEscalation: &no,
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}, SeccompProfile: seccomp,
		}, c.SecurityContext},
		{"/tmp", []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}}, c.VolumeMounts},
		{"tmp volume", true, pod.Volumes[0].EmptyDir != nil},
		{"ports", []corev1.ContainerPort{{Name: "tcp-8080", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}, c.Ports},
		{"env", []corev1.EnvVar{{Name: "PORT", Value: "8080"}, {Name: "GIN_MODE", Value: "release"}}, c.Env},
		// The image's own healthcheck, in exec form: a shell-less image
		// (builder's default base) has no curl for an HTTP GET, which
		// podman kube play would turn into one. Readiness GETs its path.
		{"liveness", &corev1.ExecAction{Command: []string{"/usr/local/bin/app", "healthcheck"}}, c.LivenessProbe.Exec},
		{"liveness not HTTP", (*corev1.HTTPGetAction)(nil), c.LivenessProbe.HTTPGet},
		{"startup", &corev1.ExecAction{Command: []string{"/usr/local/bin/app", "healthcheck"}}, c.StartupProbe.Exec},
		{"startup not HTTP", (*corev1.HTTPGetAction)(nil), c.StartupProbe.HTTPGet},
		{"readiness", "/readyz", c.ReadinessProbe.HTTPGet.Path},
		{"probe port", intstr.FromInt32(8080), c.ReadinessProbe.HTTPGet.Port},
		{"memory limit", "256Mi", c.Resources.Limits.Memory().String()},
		{"cpu request", "100m", c.Resources.Requests.Cpu().String()},
		{"scrape", map[string]string{"prometheus.io/scrape": "true", "prometheus.io/path": "/metrics", "prometheus.io/port": "8080"}, d.Spec.Template.Annotations},
	}
	for _, tc := range checks {
		if diff := cmp.Diff(tc.want, tc.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.what, diff)
		}
	}
}

// TestProbesFromImageHealthcheck checks that, without probe paths, the
// probes run the image's own healthcheck, and no scrape annotations appear
// without a metrics path.
func TestProbesFromImageHealthcheck(t *testing.T) {
	in := appInput()
	in.Settings = nil
	d := decode(t, generate(t, in)["deployment.yaml"]).(*appsv1.Deployment)
	c := d.Spec.Template.Spec.Containers[0]
	want := &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"/usr/local/bin/app", "healthcheck"}}},
		PeriodSeconds: 10, TimeoutSeconds: 2, FailureThreshold: 3, SuccessThreshold: 1,
	}
	if diff := cmp.Diff(want, c.LivenessProbe); diff != "" {
		t.Errorf("liveness (-want +got):\n%s", diff)
	}
	if c.StartupProbe.FailureThreshold*c.StartupProbe.PeriodSeconds < 60 {
		t.Errorf("startup probe gives %d×%ds, want at least 60 s", c.StartupProbe.FailureThreshold, c.StartupProbe.PeriodSeconds)
	}
	if diff := cmp.Diff(want.ProbeHandler, c.StartupProbe.ProbeHandler); diff != "" {
		t.Errorf("startup (-want +got):\n%s", diff)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.Exec == nil {
		t.Errorf("readiness %+v without a path, want the image's healthcheck", c.ReadinessProbe)
	}
	if d.Spec.Template.Annotations != nil {
		t.Errorf("annotations %v without a metrics path", d.Spec.Template.Annotations)
	}
}

// TestProbesWithoutImageHealthcheck checks that an image without a
// healthcheck gets HTTP GETs of the settings' paths for every probe, the
// startup probe checking every 2 s for at least 60 s.
func TestProbesWithoutImageHealthcheck(t *testing.T) {
	in := appInput()
	in.Config.Config.Healthcheck = nil
	d := decode(t, generate(t, in)["deployment.yaml"]).(*appsv1.Deployment)
	c := d.Spec.Template.Spec.Containers[0]
	get := func(path string) corev1.ProbeHandler {
		return corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(8080)}}
	}
	for _, tc := range []struct {
		what string
		want corev1.ProbeHandler
		got  *corev1.Probe
	}{
		{"liveness", get("/healthz"), c.LivenessProbe},
		{"readiness", get("/readyz"), c.ReadinessProbe},
		{"startup", get("/healthz"), c.StartupProbe},
	} {
		if tc.got == nil {
			t.Errorf("no %s probe", tc.what)
			continue
		}
		if diff := cmp.Diff(tc.want, tc.got.ProbeHandler); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.what, diff)
		}
	}
	if p := c.StartupProbe; p != nil && (p.PeriodSeconds != 2 || p.FailureThreshold*p.PeriodSeconds < 60) {
		t.Errorf("startup probe gives %d×%ds, want every 2 s for at least 60 s", p.FailureThreshold, p.PeriodSeconds)
	}
}

// TestBareUID checks an image whose user is a bare uid, as some bases
// give: it runs as that uid, and no group is made up for it.
func TestBareUID(t *testing.T) {
	in := appInput()
	in.Config.Config.User = "65532"
	files := generate(t, in)
	pod := decode(t, files["deployment.yaml"]).(*appsv1.Deployment).Spec.Template.Spec
	sc, csc := pod.SecurityContext, pod.Containers[0].SecurityContext
	if *sc.RunAsUser != 65532 || *csc.RunAsUser != 65532 || sc.RunAsGroup != nil || sc.FSGroup != nil || csc.RunAsGroup != nil {
		t.Errorf("security contexts %+v and %+v: want uid 65532 and no group", sc, csc)
	}
	if !strings.Contains(string(files["compose.yaml"]), "user: \"65532\"\n") {
		t.Errorf("compose.yaml does not run as user 65532:\n%s", files["compose.yaml"])
	}
}

package deploy

import (
	"fmt"
	"maps"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// tmpLimit bounds the emptyDir at /tmp, the only writable path.
var tmpLimit = resource.MustParse("64Mi")

func (s *spec) meta() metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: s.Name, Labels: maps.Clone(s.labels)}
}

func (s *spec) deployment() *appsv1.Deployment {
	zero, one := intstr.FromInt32(0), intstr.FromInt32(1)
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: s.meta(),
		Spec: appsv1.DeploymentSpec{
			Replicas: &s.replicas,
			Selector: &metav1.LabelSelector{MatchLabels: selector(s.Name)},
			Strategy: appsv1.DeploymentStrategy{
				Type:          appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &zero, MaxSurge: &one},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(s.labels), Annotations: s.scrape()},
				Spec:       s.pod(),
			},
		},
	}
}

// scrape are the Prometheus annotations, when the service has metrics.
func (s *spec) scrape() map[string]string {
	if s.settings.MetricsPath == "" {
		return nil
	}
	return map[string]string{
		"prometheus.io/scrape": "true",
		"prometheus.io/path":   s.settings.MetricsPath,
		"prometheus.io/port":   strconv.Itoa(int(s.probePort)),
	}
}

func (s *spec) pod() corev1.PodSpec {
	no, yes := false, true
	grace := int64(s.grace.Seconds())
	seccomp := &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	return corev1.PodSpec{
		AutomountServiceAccountToken:  &no,
		EnableServiceLinks:            &no,
		TerminationGracePeriodSeconds: &grace,
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   &yes,
			RunAsUser:      &s.uid,
			RunAsGroup:     s.group(),
			FSGroup:        s.group(),
			SeccompProfile: seccomp,
		},
		Containers: []corev1.Container{{
			Name:           s.Name,
			Image:          s.Image,
			Ports:          s.containerPorts(),
			Env:            s.env(),
			Resources:      corev1.ResourceRequirements{Requests: s.quantities(s.requests), Limits: s.quantities(s.limits)},
			LivenessProbe:  s.liveness(),
			ReadinessProbe: s.probe(s.settings.Probes.Readiness, false),
			StartupProbe:   s.probe(s.settings.Probes.Startup, true),
			VolumeMounts:   []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}},
			SecurityContext: &corev1.SecurityContext{
				RunAsNonRoot:             &yes,
				RunAsUser:                &s.uid,
				RunAsGroup:               s.group(),
				ReadOnlyRootFilesystem:   &yes,
				AllowPrivilegeEscalation: &no,
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				SeccompProfile:           seccomp,
			},
		}},
		Volumes: []corev1.Volume{{
			Name:         "tmp",
			VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &tmpLimit}},
		}},
	}
}

func (s *spec) quantities(q map[string]resource.Quantity) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: q["cpu"], corev1.ResourceMemory: q["memory"]}
}

func (s *spec) containerPorts() []corev1.ContainerPort {
	var out []corev1.ContainerPort
	for _, p := range s.ports {
		out = append(out, corev1.ContainerPort{Name: p.name(), ContainerPort: p.number, Protocol: corev1.Protocol(p.proto)})
	}
	return out
}

func (s *spec) env() []corev1.EnvVar {
	var out []corev1.EnvVar
	for _, kv := range s.Env {
		k, v, _ := strings.Cut(kv, "=")
		out = append(out, corev1.EnvVar{Name: k, Value: v})
	}
	return out
}

func (s *spec) service() *corev1.Service {
	var ports []corev1.ServicePort
	for _, p := range s.ports {
		ports = append(ports, corev1.ServicePort{Name: p.name(), Port: p.number,
			TargetPort: intstr.FromString(p.name()), Protocol: corev1.Protocol(p.proto)})
	}
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: s.meta(),
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: selector(s.Name), Ports: ports},
	}
}

func (s *spec) autoscaler() *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: s.meta(),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: s.Name},
			MinReplicas:    &s.replicas,
			MaxReplicas:    s.maxReplicas,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{
					Name:   corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &s.cpuTarget},
				},
			}},
		},
	}
}

func (s *spec) disruptionBudget() *policyv1.PodDisruptionBudget {
	one := intstr.FromInt32(1)
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: s.meta(),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: &one,
			Selector:       &metav1.LabelSelector{MatchLabels: selector(s.Name)},
		},
	}
}

// marshal writes obj as YAML, keys sorted, without the empty status and
// creationTimestamp a Go object always carries.
func marshal(obj any) ([]byte, error) {
	data, err := yaml.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	prune(m)
	return yaml.Marshal(m)
}

// prune drops creationTimestamp: null at every depth.
func prune(v any) {
	switch v := v.(type) {
	case map[string]any:
		if ts, ok := v["creationTimestamp"]; ok && ts == nil {
			delete(v, "creationTimestamp")
		}
		for _, e := range v {
			prune(e)
		}
	case []any:
		for _, e := range v {
			prune(e)
		}
	}
}

// group is the image's gid, or nil when it names none.
func (s *spec) group() *int64 {
	if s.gid < 0 {
		return nil
	}
	return &s.gid
}

// user is the compose user: uid[:gid], as the image names it.
func (s *spec) user() string {
	if s.gid < 0 {
		return strconv.FormatInt(s.uid, 10)
	}
	return fmt.Sprintf("%d:%d", s.uid, s.gid)
}

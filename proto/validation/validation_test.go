package validation_test

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	appsv1 "kubelab.io/proto/api/apps/v1"
	coordinationv1 "kubelab.io/proto/api/coordination/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
	"kubelab.io/proto/defaults"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/validation"
)

const (
	invalid      = apierrors.CauseFieldValueInvalid
	required     = apierrors.CauseFieldValueRequired
	notSupported = apierrors.CauseFieldValueNotSupported
	duplicate    = apierrors.CauseFieldValueDuplicate
	forbidden    = apierrors.CauseFieldValueForbidden
	tooLong      = apierrors.CauseFieldValueTooLong
)

// want is one expected field error: its path and cause type, and text its message must
// contain ("" for any).
type want struct {
	field, typ, text string
}

// expect checks that errs holds an error matching w, or, for a zero w, that errs is empty.
func expect(t *testing.T, errs apierrors.FieldErrors, w want) {
	t.Helper()
	if w == (want{}) {
		if len(errs) > 0 {
			t.Fatalf("want no errors, got:\n%s", render(errs))
		}
		return
	}
	for _, e := range errs {
		if e.Field == w.field && e.Type == w.typ && strings.Contains(e.Error(), w.text) {
			return
		}
	}
	t.Fatalf("want %s %s containing %q, got:\n%s", w.field, w.typ, w.text, render(errs))
}

func render(errs apierrors.FieldErrors) string {
	if len(errs) == 0 {
		return "  (none)"
	}
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "  [%s] %s\n", e.Type, e.Error())
	}
	return b.String()
}

func q(s string) *metav1.Quantity { return &metav1.Quantity{String_: s} }

func quantities(kv ...string) map[string]*metav1.Quantity {
	m := map[string]*metav1.Quantity{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = q(kv[i+1])
	}
	return m
}

func str(s string) *metav1.IntOrString { return &metav1.IntOrString{Type: 1, StrVal: s} }
func num(n int32) *metav1.IntOrString  { return &metav1.IntOrString{IntVal: n} }

// ---- Deployment ----

func seedDeployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		ApiVersion: "apps/v1", Kind: "Deployment",
		Metadata: &metav1.ObjectMeta{Name: "example-deployment", Namespace: "default"},
		Spec: &appsv1.DeploymentSpec{
			Replicas: proto.Int32(3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "example"}},
			Template: &corev1.PodTemplateSpec{
				Metadata: &metav1.ObjectMeta{Labels: map[string]string{"app": "example"}},
				Spec: &corev1.PodSpec{Containers: []*corev1.Container{{
					Name: "example-container", Image: "nginx:1.14.2",
					Ports: []*corev1.ContainerPort{{ContainerPort: 80}},
				}}},
			},
		},
	}
}

func defaultedDeployment() *appsv1.Deployment {
	d := seedDeployment()
	defaults.Default(d)
	return d
}

func TestDeployment(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(d *appsv1.Deployment)
		want   want
	}{
		{"seed is valid", func(*appsv1.Deployment) {}, want{}},
		{"zero replicas", func(d *appsv1.Deployment) { d.Spec.Replicas = proto.Int32(0) }, want{}},
		{"recreate", func(d *appsv1.Deployment) {
			d.Spec.Strategy = &appsv1.DeploymentStrategy{Type: "Recreate"}
		}, want{}},
		{"selector expression", func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchExpressions = []*metav1.LabelSelectorRequirement{{Key: "tier", Operator: "NotIn", Values: []string{"db"}}}
		}, want{}},
		{"negative replicas", func(d *appsv1.Deployment) { d.Spec.Replicas = proto.Int32(-1) },
			want{"spec.replicas", invalid, "spec.replicas: Invalid value: -1: must be greater than or equal to 0"}},
		{"no selector", func(d *appsv1.Deployment) { d.Spec.Selector = nil },
			want{"spec.selector", required, "spec.selector: Required value"}},
		{"empty selector", func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} },
			want{"spec.selector", invalid, "empty selector is invalid for deployment"}},
		{"selector does not match", func(d *appsv1.Deployment) {
			d.Spec.Template.Metadata.Labels = map[string]string{"app": "x"}
		}, want{"spec.template.metadata.labels", invalid,
			"spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"x\"}: `selector` does not match template `labels`"}},
		{"template without labels", func(d *appsv1.Deployment) { d.Spec.Template.Metadata = nil },
			want{"spec.template.metadata.labels", invalid, "map[string]string(nil): `selector` does not match"}},
		{"bad selector label value", func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchLabels["app"] = "-bad-"
			d.Spec.Template.Metadata.Labels["app"] = "-bad-"
		}, want{"spec.selector.matchLabels", invalid, "a valid label must be an empty string"}},
		{"bad selector operator", func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchExpressions = []*metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Near"}}
		}, want{"spec.selector.matchExpressions[0].operator", invalid, "not a valid selector operator"}},
		{"In without values", func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchExpressions = []*metav1.LabelSelectorRequirement{{Key: "tier", Operator: "In"}}
		}, want{"spec.selector.matchExpressions[0].values", required, "must be specified when `operator` is 'In' or 'NotIn'"}},
		{"restartPolicy Never", func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = "Never" },
			want{"spec.template.spec.restartPolicy", notSupported,
				`spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"`}},
		{"template activeDeadlineSeconds", func(d *appsv1.Deployment) { d.Spec.Template.Spec.ActiveDeadlineSeconds = proto.Int64(5) },
			want{"spec.template.spec.activeDeadlineSeconds", forbidden, "activeDeadlineSeconds in ReplicaSet is not Supported"}},
		{"template image missing", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "" },
			want{"spec.template.spec.containers[0].image", required, "spec.template.spec.containers[0].image: Required value"}},
		{"template no containers", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers = nil },
			want{"spec.template.spec.containers", required, "spec.template.spec.containers: Required value"}},
		{"template bad label key", func(d *appsv1.Deployment) { d.Spec.Template.Metadata.Labels["-x"] = "y" },
			want{"spec.template.metadata.labels", invalid, `Invalid value: "-x"`}},
		{"negative minReadySeconds", func(d *appsv1.Deployment) { d.Spec.MinReadySeconds = -1 },
			want{"spec.minReadySeconds", invalid, "must be greater than or equal to 0"}},
		{"negative revisionHistoryLimit", func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = proto.Int32(-1) },
			want{"spec.revisionHistoryLimit", invalid, "must be greater than or equal to 0"}},
		{"progressDeadline not above minReady", func(d *appsv1.Deployment) {
			d.Spec.MinReadySeconds = 600
		}, want{"spec.progressDeadlineSeconds", invalid, "spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds"}},
		{"unknown strategy", func(d *appsv1.Deployment) { d.Spec.Strategy.Type = "BlueGreen" },
			want{"spec.strategy.type", notSupported, `supported values: "Recreate", "RollingUpdate"`}},
		{"recreate with rollingUpdate", func(d *appsv1.Deployment) { d.Spec.Strategy.Type = "Recreate" },
			want{"spec.strategy.rollingUpdate", forbidden, "may not be specified when strategy `type` is 'Recreate'"}},
		{"both zero", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: num(0), MaxUnavailable: num(0)}
		}, want{"spec.strategy.rollingUpdate.maxUnavailable", invalid,
			"spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"}},
		{"both zero percent", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: str("0%"), MaxUnavailable: num(0)}
		}, want{"spec.strategy.rollingUpdate.maxUnavailable", invalid, "may not be 0 when `maxSurge` is 0"}},
		{"maxUnavailable over 100%", func(d *appsv1.Deployment) { d.Spec.Strategy.RollingUpdate.MaxUnavailable = str("150%") },
			want{"spec.strategy.rollingUpdate.maxUnavailable", invalid, "Invalid value: 150%: must not be greater than 100%"}},
		{"maxSurge over 100% is fine", func(d *appsv1.Deployment) { d.Spec.Strategy.RollingUpdate.MaxSurge = str("150%") }, want{}},
		{"negative maxSurge", func(d *appsv1.Deployment) { d.Spec.Strategy.RollingUpdate.MaxSurge = num(-1) },
			want{"spec.strategy.rollingUpdate.maxSurge", invalid, "Invalid value: -1: must be greater than or equal to 0"}},
		{"malformed percent", func(d *appsv1.Deployment) { d.Spec.Strategy.RollingUpdate.MaxUnavailable = str("half") },
			want{"spec.strategy.rollingUpdate.maxUnavailable", invalid, "a valid percent string must be a numeric string followed by an ending '%'"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := defaultedDeployment()
			tc.mutate(d)
			expect(t, validation.Validate(d), tc.want)
		})
	}
}

func TestDeploymentUpdate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(d *appsv1.Deployment)
		want   want
	}{
		{"scale and new image", func(d *appsv1.Deployment) {
			d.Spec.Replicas = proto.Int32(5)
			d.Spec.Template.Spec.Containers[0].Image = "nginx:1.16.1"
		}, want{}},
		{"selector changed", func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchLabels["tier"] = "web"
			d.Spec.Template.Metadata.Labels["tier"] = "web"
		}, want{"spec.selector", invalid,
			`spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"example", "tier":"web"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable`}},
		{"update is validated too", func(d *appsv1.Deployment) { d.Spec.Replicas = proto.Int32(-2) },
			want{"spec.replicas", invalid, "must be greater than or equal to 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := defaultedDeployment()
			d := proto.Clone(old).(*appsv1.Deployment)
			tc.mutate(d)
			defaults.Default(d)
			expect(t, validation.ValidateUpdate(d, old), tc.want)
		})
	}
}

// ---- ReplicaSet ----

func defaultedReplicaSet() *appsv1.ReplicaSet {
	d := seedDeployment()
	rs := &appsv1.ReplicaSet{
		ApiVersion: "apps/v1", Kind: "ReplicaSet",
		Metadata: &metav1.ObjectMeta{Name: "example-deployment-5d59d67564", Namespace: "default"},
		Spec:     &appsv1.ReplicaSetSpec{Replicas: d.Spec.Replicas, Selector: d.Spec.Selector, Template: d.Spec.Template},
	}
	defaults.Default(rs)
	return rs
}

func TestReplicaSet(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(rs *appsv1.ReplicaSet)
		want   want
	}{
		{"valid", func(*appsv1.ReplicaSet) {}, want{}},
		{"negative replicas", func(rs *appsv1.ReplicaSet) { rs.Spec.Replicas = proto.Int32(-1) },
			want{"spec.replicas", invalid, "spec.replicas: Invalid value: -1: must be greater than or equal to 0"}},
		{"negative minReadySeconds", func(rs *appsv1.ReplicaSet) { rs.Spec.MinReadySeconds = -3 },
			want{"spec.minReadySeconds", invalid, "must be greater than or equal to 0"}},
		{"no selector", func(rs *appsv1.ReplicaSet) { rs.Spec.Selector = nil },
			want{"spec.selector", required, ""}},
		{"empty selector", func(rs *appsv1.ReplicaSet) { rs.Spec.Selector = &metav1.LabelSelector{} },
			want{"spec.selector", invalid, "empty selector is invalid"}},
		{"selector mismatch", func(rs *appsv1.ReplicaSet) {
			rs.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []*metav1.LabelSelectorRequirement{{Key: "app", Operator: "DoesNotExist"}}}
		}, want{"spec.template.metadata.labels", invalid, "`selector` does not match template `labels`"}},
		{"restartPolicy OnFailure", func(rs *appsv1.ReplicaSet) { rs.Spec.Template.Spec.RestartPolicy = "OnFailure" },
			want{"spec.template.spec.restartPolicy", notSupported, `supported values: "Always"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := defaultedReplicaSet()
			tc.mutate(rs)
			expect(t, validation.Validate(rs), tc.want)
		})
	}

	t.Run("selector immutable", func(t *testing.T) {
		old := defaultedReplicaSet()
		rs := proto.Clone(old).(*appsv1.ReplicaSet)
		rs.Spec.Selector.MatchLabels = map[string]string{"app": "example", "pod-template-hash": "x"}
		rs.Spec.Template.Metadata.Labels["pod-template-hash"] = "x"
		expect(t, validation.ValidateUpdate(rs, old), want{"spec.selector", invalid, "field is immutable"})
		rs = proto.Clone(old).(*appsv1.ReplicaSet)
		rs.Spec.Replicas = proto.Int32(0)
		expect(t, validation.ValidateUpdate(rs, old), want{})
	})
}

// ---- Pod ----

func validPod() *corev1.Pod {
	p := &corev1.Pod{
		ApiVersion: "v1", Kind: "Pod",
		Metadata: &metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: &corev1.PodSpec{
			Volumes: []*corev1.Volume{{Name: "data"}, {Name: "cfg", ConfigMap: &corev1.ConfigMapVolumeSource{Name: "web-config"}}},
			InitContainers: []*corev1.Container{{
				Name: "setup", Image: "busybox:1.36", Command: []string{"sh", "-c", "true"},
			}},
			Containers: []*corev1.Container{{
				Name: "nginx", Image: "nginx:1.14.2",
				Ports: []*corev1.ContainerPort{{Name: "http", ContainerPort: 80}, {Name: "metrics", ContainerPort: 9100, HostPort: 9100}},
				Env: []*corev1.EnvVar{
					{Name: "MODE", Value: "prod"},
					{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
					{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
					{Name: "CPU", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
				},
				Resources: &corev1.ResourceRequirements{
					Limits:   quantities("cpu", "1", "memory", "256Mi"),
					Requests: quantities("cpu", "250m", "memory", "128Mi"),
				},
				VolumeMounts:   []*corev1.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "cfg", MountPath: "/etc/nginx/conf.d", ReadOnly: true}},
				LivenessProbe:  &corev1.Probe{HttpGet: &corev1.HTTPGetAction{Port: str("http")}, InitialDelaySeconds: 5},
				ReadinessProbe: &corev1.Probe{TcpSocket: &corev1.TCPSocketAction{Port: num(80)}, SuccessThreshold: 2},
				Lifecycle:      &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}},
			}},
			NodeSelector: map[string]string{"kubernetes.io/os": "linux"},
			Tolerations: []*corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: "Exists", Effect: "NoExecute", TolerationSeconds: proto.Int64(300)},
				{Key: "dedicated", Operator: "Equal", Value: "web", Effect: "NoSchedule"},
			},
			Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []*corev1.NodeSelectorTerm{{
					MatchExpressions: []*corev1.NodeSelectorRequirement{{Key: "zone", Operator: "In", Values: []string{"a"}}},
				}}},
			}},
		},
	}
	defaults.Default(p)
	return p
}

func ctr(p *corev1.Pod) *corev1.Container { return p.Spec.Containers[0] }

func TestPod(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(p *corev1.Pod)
		want   want
	}{
		{"valid", func(*corev1.Pod) {}, want{}},
		{"no containers", func(p *corev1.Pod) { p.Spec.Containers = nil },
			want{"spec.containers", required, "spec.containers: Required value"}},
		{"container name missing", func(p *corev1.Pod) { ctr(p).Name = "" },
			want{"spec.containers[0].name", required, ""}},
		{"container name not a DNS label", func(p *corev1.Pod) { ctr(p).Name = "Web_1" },
			want{"spec.containers[0].name", invalid, "a lowercase RFC 1123 label must consist of"}},
		{"duplicate container names", func(p *corev1.Pod) {
			c := proto.Clone(ctr(p)).(*corev1.Container)
			c.Ports = nil
			p.Spec.Containers = append(p.Spec.Containers, c)
		}, want{"spec.containers[1].name", duplicate, `spec.containers[1].name: Duplicate value: "nginx"`}},
		{"init container named like a container", func(p *corev1.Pod) { p.Spec.InitContainers[0].Name = "nginx" },
			want{"spec.initContainers[0].name", duplicate, ""}},
		{"image missing", func(p *corev1.Pod) { ctr(p).Image = "" },
			want{"spec.containers[0].image", required, "spec.containers[0].image: Required value"}},
		{"init image missing", func(p *corev1.Pod) { p.Spec.InitContainers[0].Image = "" },
			want{"spec.initContainers[0].image", required, ""}},
		{"image with whitespace", func(p *corev1.Pod) { ctr(p).Image = " nginx" },
			want{"spec.containers[0].image", invalid, "must not have leading or trailing whitespace"}},
		{"image not a docker reference is the client's business", func(p *corev1.Pod) { ctr(p).Image = "NGINX:" }, want{}},
		{"containerPort missing", func(p *corev1.Pod) { ctr(p).Ports[0].ContainerPort = 0 },
			want{"spec.containers[0].ports[0].containerPort", required, ""}},
		{"containerPort too big", func(p *corev1.Pod) { ctr(p).Ports[0].ContainerPort = 70000 },
			want{"spec.containers[0].ports[0].containerPort", invalid, "Invalid value: 70000: must be between 1 and 65535, inclusive"}},
		{"hostPort too big", func(p *corev1.Pod) { ctr(p).Ports[1].HostPort = 65536 },
			want{"spec.containers[0].ports[1].hostPort", invalid, "must be between 1 and 65535, inclusive"}},
		{"hostPort reused", func(p *corev1.Pod) {
			ctr(p).Ports = append(ctr(p).Ports, &corev1.ContainerPort{ContainerPort: 9101, HostPort: 9100, Protocol: "TCP"})
		}, want{"spec.containers[0].ports[2].hostPort", duplicate, `"/TCP/9100"`}},
		{"port name too long", func(p *corev1.Pod) { ctr(p).Ports[0].Name = "a-very-long-port-name" },
			want{"spec.containers[0].ports[0].name", invalid, "must be no more than 15 characters"}},
		{"port name without letter", func(p *corev1.Pod) { ctr(p).Ports[0].Name = "8080" },
			want{"spec.containers[0].ports[0].name", invalid, "must contain at least one letter (a-z)"}},
		{"duplicate port names", func(p *corev1.Pod) { ctr(p).Ports[1].Name = "http" },
			want{"spec.containers[0].ports[1].name", duplicate, `Duplicate value: "http"`}},
		{"port protocol", func(p *corev1.Pod) { ctr(p).Ports[0].Protocol = "ICMP" },
			want{"spec.containers[0].ports[0].protocol", notSupported, `supported values: "SCTP", "TCP", "UDP"`}},
		{"restartPolicy", func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" },
			want{"spec.restartPolicy", notSupported, `spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"`}},
		{"restartPolicy Never is fine for pods", func(p *corev1.Pod) { p.Spec.RestartPolicy = "Never" }, want{}},
		{"dnsPolicy", func(p *corev1.Pod) { p.Spec.DnsPolicy = "Google" },
			want{"spec.dnsPolicy", notSupported, `supported values: "ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"`}},
		{"dnsPolicy None without dnsConfig", func(p *corev1.Pod) { p.Spec.DnsPolicy = "None" },
			want{"spec.dnsConfig", required, "must provide `dnsConfig` when `dnsPolicy` is None"}},
		{"dnsConfig nameserver", func(p *corev1.Pod) { p.Spec.DnsConfig = &corev1.PodDNSConfig{Nameservers: []string{"8.8.8"}} },
			want{"spec.dnsConfig.nameservers[0]", invalid, "must be a valid IP address"}},
		{"imagePullPolicy", func(p *corev1.Pod) { ctr(p).ImagePullPolicy = "Sometimes" },
			want{"spec.containers[0].imagePullPolicy", notSupported, `supported values: "Always", "IfNotPresent", "Never"`}},
		{"terminationMessagePolicy", func(p *corev1.Pod) { ctr(p).TerminationMessagePolicy = "Logs" },
			want{"spec.containers[0].terminationMessagePolicy", notSupported, ""}},
		{"env name", func(p *corev1.Pod) { ctr(p).Env[0].Name = "1MODE" },
			want{"spec.containers[0].env[0].name", invalid, "a valid environment variable name must consist of alphabetic characters"}},
		{"env name missing", func(p *corev1.Pod) { ctr(p).Env[0].Name = "" },
			want{"spec.containers[0].env[0].name", required, ""}},
		{"env value and valueFrom", func(p *corev1.Pod) { ctr(p).Env[1].Value = "x" },
			want{"spec.containers[0].env[1].valueFrom", invalid, "may not be specified when `value` is not empty"}},
		{"env valueFrom empty", func(p *corev1.Pod) { ctr(p).Env[1].ValueFrom = &corev1.EnvVarSource{} },
			want{"spec.containers[0].env[1].valueFrom", invalid, "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"}},
		{"env fieldPath", func(p *corev1.Pod) { ctr(p).Env[1].ValueFrom.FieldRef.FieldPath = "spec.containers" },
			want{"spec.containers[0].env[1].valueFrom.fieldRef.fieldPath", notSupported, ""}},
		{"env secretKeyRef key", func(p *corev1.Pod) {
			ctr(p).Env[1].ValueFrom = &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Name: "s"}}
		}, want{"spec.containers[0].env[1].valueFrom.secretKeyRef.key", required, ""}},
		{"bad quantity", func(p *corev1.Pod) { ctr(p).Resources.Limits["memory"] = q("lots") },
			want{"spec.containers[0].resources.limits[memory]", invalid, "quantities must match the regular expression"}},
		{"bad quantity suffix", func(p *corev1.Pod) { ctr(p).Resources.Limits["memory"] = q("1Qi") },
			want{"spec.containers[0].resources.limits[memory]", invalid, "quantities must match the regular expression"}},
		{"negative quantity", func(p *corev1.Pod) { ctr(p).Resources.Requests["cpu"] = q("-1") },
			want{"spec.containers[0].resources.requests[cpu]", invalid, `Invalid value: "-1": must be greater than or equal to 0`}},
		{"request above limit", func(p *corev1.Pod) {
			ctr(p).Resources = &corev1.ResourceRequirements{Limits: quantities("cpu", "1"), Requests: quantities("cpu", "2")}
		}, want{"spec.containers[0].resources.requests", invalid,
			`spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1`}},
		{"request above limit across suffixes", func(p *corev1.Pod) {
			ctr(p).Resources = &corev1.ResourceRequirements{Limits: quantities("memory", "1Gi"), Requests: quantities("memory", "1100M")}
		}, want{"spec.containers[0].resources.requests", invalid, "must be less than or equal to memory limit of 1Gi"}},
		{"request equal to limit in other units", func(p *corev1.Pod) {
			ctr(p).Resources = &corev1.ResourceRequirements{Limits: quantities("cpu", "1"), Requests: quantities("cpu", "1000m")}
		}, want{}},
		{"unknown resource", func(p *corev1.Pod) { ctr(p).Resources.Limits["gpu"] = q("1") },
			want{"spec.containers[0].resources.limits[gpu]", invalid, "must be a standard resource for containers"}},
		{"extended resource request without limit", func(p *corev1.Pod) { ctr(p).Resources.Requests["example.com/gpu"] = q("1") },
			want{"spec.containers[0].resources.limits", required, "Limit must be set for non overcommitable resources"}},
		{"probe without handler", func(p *corev1.Pod) { ctr(p).LivenessProbe.HttpGet = nil },
			want{"spec.containers[0].livenessProbe", required, "must specify a handler type"}},
		{"probe with two handlers", func(p *corev1.Pod) { ctr(p).LivenessProbe.Exec = &corev1.ExecAction{Command: []string{"true"}} },
			want{"spec.containers[0].livenessProbe.httpGet", forbidden, "may not specify more than 1 handler type"}},
		{"probe periodSeconds", func(p *corev1.Pod) { ctr(p).ReadinessProbe.PeriodSeconds = 0 },
			want{"spec.containers[0].readinessProbe.periodSeconds", invalid, "must be greater than or equal to 1"}},
		{"probe initialDelaySeconds", func(p *corev1.Pod) { ctr(p).ReadinessProbe.InitialDelaySeconds = -1 },
			want{"spec.containers[0].readinessProbe.initialDelaySeconds", invalid, "must be greater than or equal to 0"}},
		{"liveness successThreshold", func(p *corev1.Pod) { ctr(p).LivenessProbe.SuccessThreshold = 2 },
			want{"spec.containers[0].livenessProbe.successThreshold", invalid, "must be 1"}},
		{"probe http port name", func(p *corev1.Pod) { ctr(p).LivenessProbe.HttpGet.Port = str("Http") },
			want{"spec.containers[0].livenessProbe.httpGet.port", invalid, ""}},
		{"probe on plain init container", func(p *corev1.Pod) {
			p.Spec.InitContainers[0].ReadinessProbe = &corev1.Probe{Exec: &corev1.ExecAction{Command: []string{"true"}}}
		}, want{"spec.initContainers[0].readinessProbe", forbidden, "may not be set for init containers without restartPolicy=Always"}},
		{"sidecar may have probes", func(p *corev1.Pod) {
			ic := p.Spec.InitContainers[0]
			ic.RestartPolicy = proto.String("Always")
			ic.ReadinessProbe = &corev1.Probe{Exec: &corev1.ExecAction{Command: []string{"true"}}}
			defaults.Default(p)
		}, want{}},
		{"container restartPolicy", func(p *corev1.Pod) { ctr(p).RestartPolicy = proto.String("Always") },
			want{"spec.containers[0].restartPolicy", forbidden, "may not be set for non-init containers"}},
		{"preStop sleep too long", func(p *corev1.Pod) { ctr(p).Lifecycle.PreStop.Sleep.Seconds = 60 },
			want{"spec.containers[0].lifecycle.preStop.sleep.seconds", invalid, "less than terminationGracePeriodSeconds (30)"}},
		{"toleration operator", func(p *corev1.Pod) { p.Spec.Tolerations[1].Operator = "Maybe" },
			want{"spec.tolerations[1].operator", notSupported, `supported values: "Equal", "Exists"`}},
		{"toleration effect", func(p *corev1.Pod) { p.Spec.Tolerations[1].Effect = "NoRun" },
			want{"spec.tolerations[1].effect", notSupported, `supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"`}},
		{"toleration without key must be Exists", func(p *corev1.Pod) { p.Spec.Tolerations[1].Key = "" },
			want{"spec.tolerations[1].operator", invalid, "operator must be Exists when `key` is empty"}},
		{"tolerationSeconds without NoExecute", func(p *corev1.Pod) { p.Spec.Tolerations[1].TolerationSeconds = proto.Int64(5) },
			want{"spec.tolerations[1].effect", invalid, "effect must be 'NoExecute' when `tolerationSeconds` is set"}},
		{"toleration Exists with value", func(p *corev1.Pod) { p.Spec.Tolerations[0].Value = "x" },
			want{"spec.tolerations[0].operator", invalid, "value must be empty when `operator` is 'Exists'"}},
		{"negative terminationGracePeriodSeconds", func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = proto.Int64(-1) },
			want{"spec.terminationGracePeriodSeconds", invalid, "must be greater than or equal to 0"}},
		{"activeDeadlineSeconds", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = proto.Int64(0) },
			want{"spec.activeDeadlineSeconds", invalid, "must be between 1 and 2147483647, inclusive"}},
		{"nodeSelector key", func(p *corev1.Pod) { p.Spec.NodeSelector["bad key"] = "x" },
			want{"spec.nodeSelector", invalid, `Invalid value: "bad key"`}},
		{"nodeSelector value", func(p *corev1.Pod) { p.Spec.NodeSelector["kubernetes.io/os"] = "linux!" },
			want{"spec.nodeSelector", invalid, `Invalid value: "linux!"`}},
		{"nodeName", func(p *corev1.Pod) { p.Spec.NodeName = "Node_1" },
			want{"spec.nodeName", invalid, "a lowercase RFC 1123 subdomain"}},
		{"duplicate volume names", func(p *corev1.Pod) { p.Spec.Volumes[1].Name = "data" },
			want{"spec.volumes[1].name", duplicate, `Duplicate value: "data"`}},
		{"volume name", func(p *corev1.Pod) { p.Spec.Volumes[0].Name = "Data"; ctr(p).VolumeMounts[0].Name = "Data" },
			want{"spec.volumes[0].name", invalid, ""}},
		{"two volume sources", func(p *corev1.Pod) { p.Spec.Volumes[1].EmptyDir = &corev1.EmptyDirVolumeSource{} },
			want{"spec.volumes[1].configMap", forbidden, "may not specify more than 1 volume type"}},
		{"configMap volume name", func(p *corev1.Pod) { p.Spec.Volumes[1].ConfigMap.Name = "" },
			want{"spec.volumes[1].configMap.name", required, ""}},
		{"volumeMount of unknown volume", func(p *corev1.Pod) { ctr(p).VolumeMounts[0].Name = "cache" },
			want{"spec.containers[0].volumeMounts[0].name", invalid, `"cache": not found`}},
		{"volumeMount without path", func(p *corev1.Pod) { ctr(p).VolumeMounts[0].MountPath = "" },
			want{"spec.containers[0].volumeMounts[0].mountPath", required, ""}},
		{"volumeMount path twice", func(p *corev1.Pod) { ctr(p).VolumeMounts[1].MountPath = "/data" },
			want{"spec.containers[0].volumeMounts[1].mountPath", invalid, "must be unique"}},
		{"volumeMount subPath escapes", func(p *corev1.Pod) { ctr(p).VolumeMounts[0].SubPath = "../etc" },
			want{"spec.containers[0].volumeMounts[0].subPath", invalid, "must not contain '..'"}},
		{"node affinity without terms", func(p *corev1.Pod) {
			p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms = nil
		}, want{"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms", required, "must have at least one node selector term"}},
		{"pod affinity without topologyKey", func(p *corev1.Pod) {
			p.Spec.Affinity.PodAntiAffinity = &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []*corev1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			}}}
		}, want{"spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey", required, "can not be empty"}},
		{"hostNetwork with another hostPort", func(p *corev1.Pod) { p.Spec.HostNetwork = true; ctr(p).Ports[1].HostPort = 9200 },
			want{"spec.containers[0].ports[1].hostPort", invalid, "must match `containerPort` when `hostNetwork` is true"}},
		{"securityContext runAsUser", func(p *corev1.Pod) { p.Spec.SecurityContext.RunAsUser = proto.Int64(-1) },
			want{"spec.securityContext.runAsUser", invalid, "must be between 0 and 2147483647, inclusive"}},
		{"hostAlias ip", func(p *corev1.Pod) { p.Spec.HostAliases = []*corev1.HostAlias{{Ip: "nope", Hostnames: []string{"a"}}} },
			want{"spec.hostAliases[0].ip", invalid, ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := validPod()
			tc.mutate(p)
			expect(t, validation.Validate(p), tc.want)
		})
	}
}

func TestPodUpdate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(p *corev1.Pod)
		want   want
	}{
		{"labels only", func(p *corev1.Pod) { p.Metadata.Labels = map[string]string{"a": "b"} }, want{}},
		{"images", func(p *corev1.Pod) {
			ctr(p).Image = "nginx:1.16.1"
			p.Spec.InitContainers[0].Image = "busybox:1.37"
		}, want{}},
		{"new image must be valid", func(p *corev1.Pod) { ctr(p).Image = "" },
			want{"spec.containers[0].image", required, ""}},
		{"add toleration", func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, &corev1.Toleration{Key: "k", Operator: "Exists"})
		}, want{}},
		{"change tolerationSeconds", func(p *corev1.Pod) { p.Spec.Tolerations[0].TolerationSeconds = proto.Int64(10) }, want{}},
		{"remove toleration", func(p *corev1.Pod) { p.Spec.Tolerations = p.Spec.Tolerations[:1] },
			want{"spec.tolerations", forbidden, "existing toleration can not be modified except its tolerationSeconds"}},
		{"set activeDeadlineSeconds", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = proto.Int64(100) }, want{}},
		{"nodeName", func(p *corev1.Pod) { p.Spec.NodeName = "node-1" },
			want{"spec", forbidden, "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n  spec.nodeName: \"\" -> \"node-1\""}},
		{"container ports", func(p *corev1.Pod) { ctr(p).Ports[0].ContainerPort = 81 },
			want{"spec", forbidden, "spec.containers[0].ports[0].containerPort: 80 -> 81"}},
		{"terminationGracePeriodSeconds", func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = proto.Int64(10) },
			want{"spec", forbidden, "pod updates may not change fields other than"}},
		{"add container", func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, &corev1.Container{Name: "sidecar", Image: "envoy"})
			defaults.Default(p)
		}, want{"spec.containers", forbidden, "pod updates may not add or remove containers"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := validPod()
			p := proto.Clone(old).(*corev1.Pod)
			tc.mutate(p)
			expect(t, validation.ValidateUpdate(p, old), tc.want)
		})
	}

	t.Run("activeDeadlineSeconds", func(t *testing.T) {
		old := validPod()
		old.Spec.ActiveDeadlineSeconds = proto.Int64(100)
		p := proto.Clone(old).(*corev1.Pod)
		p.Spec.ActiveDeadlineSeconds = proto.Int64(50)
		expect(t, validation.ValidateUpdate(p, old), want{})
		p.Spec.ActiveDeadlineSeconds = proto.Int64(200)
		expect(t, validation.ValidateUpdate(p, old), want{"spec.activeDeadlineSeconds", invalid, "must be less than or equal to previous value"})
		p.Spec.ActiveDeadlineSeconds = nil
		expect(t, validation.ValidateUpdate(p, old), want{"spec.activeDeadlineSeconds", invalid, "must not update from a positive integer to nil value"})
	})
	t.Run("negative terminationGracePeriodSeconds to 1", func(t *testing.T) {
		old := validPod()
		old.Spec.TerminationGracePeriodSeconds = proto.Int64(-5)
		p := proto.Clone(old).(*corev1.Pod)
		p.Spec.TerminationGracePeriodSeconds = proto.Int64(1)
		errs := validation.ValidatePodUpdate(p, old)
		for _, e := range errs {
			if e.Field == "spec" {
				t.Fatalf("setting a negative grace period to 1 is allowed: %v", e)
			}
		}
	})
}

// ---- ObjectMeta ----

func TestObjectMeta(t *testing.T) {
	valid := func() *metav1.ObjectMeta {
		return &metav1.ObjectMeta{
			Name: "web-1", Namespace: "default",
			Labels:      map[string]string{"app": "web", "app.kubernetes.io/name": "web", "empty": ""},
			Annotations: map[string]string{"example.com/Note": "anything at all"},
			OwnerReferences: []*metav1.OwnerReference{
				{ApiVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-abc", Uid: "u1", Controller: proto.Bool(true)},
				{ApiVersion: "v1", Kind: "ConfigMap", Name: "cfg", Uid: "u2"},
			},
			Finalizers: []string{"kubernetes", "example.com/cleanup", "foregroundDeletion"},
		}
	}
	for _, tc := range []struct {
		name       string
		mutate     func(m *metav1.ObjectMeta)
		namespaced bool
		dnsLabel   bool
		want       want
	}{
		{"valid", func(*metav1.ObjectMeta) {}, true, false, want{}},
		{"generateName only", func(m *metav1.ObjectMeta) { m.Name = ""; m.GenerateName = "web-" }, true, false, want{}},
		{"no name", func(m *metav1.ObjectMeta) { m.Name = "" }, true, false,
			want{"metadata.name", required, "metadata.name: Required value: name or generateName is required"}},
		{"bad generateName", func(m *metav1.ObjectMeta) { m.Name = ""; m.GenerateName = "Web-" }, true, false,
			want{"metadata.generateName", invalid, ""}},
		{"name not a subdomain", func(m *metav1.ObjectMeta) { m.Name = "Web_1" }, true, false,
			want{"metadata.name", invalid, `metadata.name: Invalid value: "Web_1": a lowercase RFC 1123 subdomain must consist of`}},
		{"dotted name is a subdomain", func(m *metav1.ObjectMeta) { m.Name = "web.example.com" }, true, false, want{}},
		{"namespace name not a label", func(m *metav1.ObjectMeta) { m.Name = "team.a"; m.Namespace = "" }, false, true,
			want{"metadata.name", invalid, "must not contain dots"}},
		{"namespace missing", func(m *metav1.ObjectMeta) { m.Namespace = "" }, true, false,
			want{"metadata.namespace", required, "metadata.namespace: Required value"}},
		{"namespace invalid", func(m *metav1.ObjectMeta) { m.Namespace = "Default" }, true, false,
			want{"metadata.namespace", invalid, ""}},
		{"namespace on cluster-scoped", func(*metav1.ObjectMeta) {}, false, false,
			want{"metadata.namespace", forbidden, "metadata.namespace: Forbidden: not allowed on this type"}},
		{"negative generation", func(m *metav1.ObjectMeta) { m.Generation = -1 }, true, false,
			want{"metadata.generation", invalid, ""}},
		{"label key", func(m *metav1.ObjectMeta) { m.Labels["a/b/c"] = "x" }, true, false,
			want{"metadata.labels", invalid, `Invalid value: "a/b/c": a qualified name must consist of`}},
		{"label value", func(m *metav1.ObjectMeta) { m.Labels["app"] = strings.Repeat("x", 64) }, true, false,
			want{"metadata.labels", invalid, "must be no more than 63 characters"}},
		{"annotation key", func(m *metav1.ObjectMeta) { m.Annotations["no spaces"] = "x" }, true, false,
			want{"metadata.annotations", invalid, `"no spaces"`}},
		{"annotations too big", func(m *metav1.ObjectMeta) { m.Annotations["big"] = strings.Repeat("x", 256*1024) }, true, false,
			want{"metadata.annotations", tooLong, "metadata.annotations: Too long: may not be more than 262144 bytes"}},
		{"ownerReference without uid", func(m *metav1.ObjectMeta) { m.OwnerReferences[1].Uid = "" }, true, false,
			want{"metadata.ownerReferences.uid", invalid, "must not be empty"}},
		{"ownerReference without apiVersion", func(m *metav1.ObjectMeta) { m.OwnerReferences[1].ApiVersion = "" }, true, false,
			want{"metadata.ownerReferences.apiVersion", invalid, "version must not be empty"}},
		{"ownerReference without kind", func(m *metav1.ObjectMeta) { m.OwnerReferences[1].Kind = "" }, true, false,
			want{"metadata.ownerReferences.kind", invalid, "must not be empty"}},
		{"ownerReference without name", func(m *metav1.ObjectMeta) { m.OwnerReferences[1].Name = "" }, true, false,
			want{"metadata.ownerReferences.name", invalid, "must not be empty"}},
		{"two controllers", func(m *metav1.ObjectMeta) { m.OwnerReferences[1].Controller = proto.Bool(true) }, true, false,
			want{"metadata.ownerReferences", invalid, "Only one reference can have Controller set to true. Found \"true\" in references for ReplicaSet/web-abc and ConfigMap/cfg"}},
		{"finalizer", func(m *metav1.ObjectMeta) { m.Finalizers = append(m.Finalizers, "a/b/c") }, true, false,
			want{"metadata.finalizers", invalid, ""}},
		{"orphan and foreground", func(m *metav1.ObjectMeta) { m.Finalizers = append(m.Finalizers, "orphan") }, true, false,
			want{"metadata.finalizers", invalid, "finalizer orphan and foregroundDeletion cannot be both set"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := valid()
			tc.mutate(m)
			expect(t, validation.ValidateObjectMeta(m, tc.namespaced, tc.dnsLabel, "metadata"), tc.want)
		})
	}
}

// ---- other kinds ----

func TestKinds(t *testing.T) {
	meta := func(ns string) *metav1.ObjectMeta { return &metav1.ObjectMeta{Name: "x", Namespace: ns} }
	node := func(mutate func(*corev1.Node)) runtime.Object {
		n := &corev1.Node{Metadata: meta(""), Spec: &corev1.NodeSpec{
			PodCIDR: "10.244.1.0/24", PodCIDRs: []string{"10.244.1.0/24", "fd00:10:244:1::/64"},
			Taints: []*corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: "NoSchedule"}},
		}, Status: &corev1.NodeStatus{Capacity: quantities("cpu", "4", "memory", "8Gi", "pods", "110")}}
		if mutate != nil {
			mutate(n)
		}
		return n
	}
	lr := func(items ...*corev1.LimitRangeItem) runtime.Object {
		return &corev1.LimitRange{Metadata: meta("default"), Spec: &corev1.LimitRangeSpec{Limits: items}}
	}
	rq := func(hard map[string]*metav1.Quantity, scopes ...string) runtime.Object {
		return &corev1.ResourceQuota{Metadata: meta("default"), Spec: &corev1.ResourceQuotaSpec{Hard: hard, Scopes: scopes}}
	}
	lease := func(spec *coordinationv1.LeaseSpec) runtime.Object {
		return &coordinationv1.Lease{Metadata: meta("kube-node-lease"), Spec: spec}
	}
	event := func(ev *corev1.Event) runtime.Object {
		ev.Metadata = &metav1.ObjectMeta{Name: "web.17a", Namespace: "default"}
		return ev
	}
	for _, tc := range []struct {
		name string
		obj  runtime.Object
		want want
	}{
		// Namespace
		{"namespace", &corev1.Namespace{Metadata: meta(""), Spec: &corev1.NamespaceSpec{Finalizers: []string{"kubernetes"}}}, want{}},
		{"namespace finalizer", &corev1.Namespace{Metadata: meta(""), Spec: &corev1.NamespaceSpec{Finalizers: []string{"cleanup"}}},
			want{"spec.finalizers[0]", invalid, "name is neither a standard finalizer name nor is it fully qualified"}},
		// Node
		{"node", node(nil), want{}},
		{"node podCIDR", node(func(n *corev1.Node) { n.Spec.PodCIDR = "10.244.1.0"; n.Spec.PodCIDRs = nil }),
			want{"spec.podCIDR", invalid, "must be a valid CIDR value"}},
		{"node podCIDRs", node(func(n *corev1.Node) { n.Spec.PodCIDRs[1] = "10.245.0.0/16" }),
			want{"spec.podCIDRs", invalid, "may specify no more than one CIDR for each IP family"}},
		{"node taint key", node(func(n *corev1.Node) { n.Spec.Taints[0].Key = "bad key" }),
			want{"spec.taints[0].key", invalid, ""}},
		{"node taint effect", node(func(n *corev1.Node) { n.Spec.Taints[0].Effect = "NoRun" }),
			want{"spec.taints[0].effect", notSupported, `supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"`}},
		{"node taint effect missing", node(func(n *corev1.Node) { n.Spec.Taints[0].Effect = "" }),
			want{"spec.taints[0].effect", required, ""}},
		{"node duplicate taint", node(func(n *corev1.Node) {
			n.Spec.Taints = append(n.Spec.Taints, &corev1.Taint{Key: "node-role.kubernetes.io/control-plane", Value: "x", Effect: "NoSchedule"})
		}), want{"spec.taints[1]", duplicate, "taints must be unique by key and effect pair"}},
		{"node same taint key, other effect", node(func(n *corev1.Node) {
			n.Spec.Taints = append(n.Spec.Taints, &corev1.Taint{Key: "node-role.kubernetes.io/control-plane", Effect: "NoExecute"})
		}), want{}},
		{"node capacity", node(func(n *corev1.Node) { n.Status.Capacity["cpu"] = q("-4") }),
			want{"status.capacity[cpu]", invalid, "must be greater than or equal to 0"}},
		// Event
		{"event", event(&corev1.Event{InvolvedObject: &corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"}, Reason: "Started", Type: "Normal"}), want{}},
		{"event for a node", event(&corev1.Event{InvolvedObject: &corev1.ObjectReference{Kind: "Node", Name: "n1"}}), want{}},
		{"event namespace mismatch", event(&corev1.Event{InvolvedObject: &corev1.ObjectReference{Kind: "Pod", Namespace: "other", Name: "web"}}),
			want{"involvedObject.namespace", invalid, `involvedObject.namespace: Invalid value: "other": does not match event.namespace`}},
		{"new event without reporting fields", event(&corev1.Event{
			InvolvedObject: &corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"},
			EventTime:      &metav1.MicroTime{Seconds: 1},
		}), want{"reportingComponent", required, ""}},
		{"event type", event(&corev1.Event{InvolvedObject: &corev1.ObjectReference{Namespace: "default"}, Type: "Info"}),
			want{"type", notSupported, ""}},
		// Lease
		{"lease", lease(&coordinationv1.LeaseSpec{HolderIdentity: proto.String("n1"), LeaseDurationSeconds: proto.Int32(40)}), want{}},
		{"lease without spec", lease(nil), want{}},
		{"lease duration", lease(&coordinationv1.LeaseSpec{LeaseDurationSeconds: proto.Int32(0)}),
			want{"spec.leaseDurationSeconds", invalid, "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"}},
		{"lease transitions", lease(&coordinationv1.LeaseSpec{LeaseTransitions: proto.Int32(-1)}),
			want{"spec.leaseTransitions", invalid, ""}},
		{"lease preferredHolder", lease(&coordinationv1.LeaseSpec{PreferredHolder: proto.String("n2")}),
			want{"spec.preferredHolder", forbidden, ""}},
		// Binding
		{"binding", &corev1.Binding{Metadata: meta("default"), Target: &corev1.ObjectReference{Kind: "Node", Name: "n1"}}, want{}},
		{"binding without target name", &corev1.Binding{Metadata: meta("default"), Target: &corev1.ObjectReference{Kind: "Node"}},
			want{"target.name", required, "target.name: Required value"}},
		{"binding to a pod", &corev1.Binding{Metadata: meta("default"), Target: &corev1.ObjectReference{Kind: "Pod", Name: "x"}},
			want{"target.kind", notSupported, ""}},
		// LimitRange
		{"limitrange", lr(
			&corev1.LimitRangeItem{Type: "Container", Min: quantities("cpu", "100m"), DefaultRequest: quantities("cpu", "200m"),
				Default: quantities("cpu", "500m"), Max: quantities("cpu", "1"), MaxLimitRequestRatio: quantities("cpu", "4")},
			&corev1.LimitRangeItem{Type: "Pod", Max: quantities("memory", "2Gi")},
			&corev1.LimitRangeItem{Type: "PersistentVolumeClaim", Max: quantities("storage", "10Gi")},
		), want{}},
		{"limitrange type", lr(&corev1.LimitRangeItem{Type: "Deployment", Max: quantities("cpu", "1")}),
			want{"spec.limits[0].type", invalid, "must be a standard limit type or fully qualified"}},
		{"limitrange duplicate type", lr(&corev1.LimitRangeItem{Type: "Pod"}, &corev1.LimitRangeItem{Type: "Pod"}),
			want{"spec.limits[1].type", duplicate, ""}},
		{"limitrange min above max", lr(&corev1.LimitRangeItem{Type: "Container", Min: quantities("memory", "2Gi"), Max: quantities("memory", "1Gi")}),
			want{"spec.limits[0].min[memory]", invalid, "spec.limits[0].min[memory]: Invalid value: 2Gi: min value 2Gi is greater than max value 1Gi"}},
		{"limitrange defaultRequest above default", lr(&corev1.LimitRangeItem{Type: "Container", DefaultRequest: quantities("cpu", "2"), Default: quantities("cpu", "1")}),
			want{"spec.limits[0].defaultRequest[cpu]", invalid, "default request value 2 is greater than default limit value 1"}},
		{"limitrange default above max", lr(&corev1.LimitRangeItem{Type: "Container", Default: quantities("cpu", "2"), Max: quantities("cpu", "1")}),
			want{"spec.limits[0].default[cpu]", invalid, "default value 2 is greater than max value 1"}},
		{"limitrange min above defaultRequest", lr(&corev1.LimitRangeItem{Type: "Container", Min: quantities("cpu", "500m"), DefaultRequest: quantities("cpu", "100m")}),
			want{"spec.limits[0].defaultRequest[cpu]", invalid, "min value 500m is greater than default request value 100m"}},
		{"limitrange pod default", lr(&corev1.LimitRangeItem{Type: "Pod", Default: quantities("cpu", "1")}),
			want{"spec.limits[0].default", forbidden, "may not be specified when `type` is 'Pod'"}},
		{"limitrange ratio", lr(&corev1.LimitRangeItem{Type: "Container", MaxLimitRequestRatio: quantities("cpu", "500m")}),
			want{"spec.limits[0].maxLimitRequestRatio[cpu]", invalid, "ratio 500m is less than 1"}},
		{"limitrange quantity", lr(&corev1.LimitRangeItem{Type: "Container", Max: quantities("cpu", "one")}),
			want{"spec.limits[0].max[cpu]", invalid, "quantities must match the regular expression"}},
		{"limitrange pvc without storage", lr(&corev1.LimitRangeItem{Type: "PersistentVolumeClaim"}),
			want{"spec.limits[0].limits", required, ""}},
		// ResourceQuota
		{"resourcequota", rq(quantities("pods", "10", "requests.cpu", "4", "limits.memory", "8Gi", "count/deployments.apps", "5"), "NotBestEffort"), want{}},
		{"resourcequota negative", rq(quantities("requests.cpu", "-1")),
			want{"spec.hard[requests.cpu]", invalid, `spec.hard[requests.cpu]: Invalid value: "-1": must be greater than or equal to 0`}},
		{"resourcequota syntax", rq(quantities("requests.memory", "1 Gi")),
			want{"spec.hard[requests.memory]", invalid, "quantities must match the regular expression"}},
		{"resourcequota resource name", rq(quantities("deployments", "1")),
			want{"spec.hard[deployments]", invalid, "must be a standard resource for quota"}},
		{"resourcequota integer", rq(quantities("pods", "1500m")),
			want{"spec.hard[pods]", invalid, "must be an integer"}},
		{"resourcequota scope", rq(nil, "Sometimes"),
			want{"spec.scopes", invalid, `spec.scopes: Invalid value: []core.ResourceQuotaScope{"Sometimes"}: unsupported scope`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, validation.Validate(tc.obj), tc.want)
		})
	}
}

func TestKindUpdates(t *testing.T) {
	node := func(cidr string) *corev1.Node {
		return &corev1.Node{Metadata: &metav1.ObjectMeta{Name: "n1"}, Spec: &corev1.NodeSpec{PodCIDR: cidr}}
	}
	expect(t, validation.ValidateUpdate(node("10.244.1.0/24"), node("")), want{})
	expect(t, validation.ValidateUpdate(node("10.244.1.0/24"), node("10.244.1.0/24")), want{})
	expect(t, validation.ValidateUpdate(node("10.244.2.0/24"), node("10.244.1.0/24")),
		want{"spec.podCIDR", forbidden, "node updates may not change podCIDR except from \"\" to valid"})

	rq := func(scopes ...string) *corev1.ResourceQuota {
		return &corev1.ResourceQuota{Spec: &corev1.ResourceQuotaSpec{Hard: quantities("pods", "1"), Scopes: scopes}}
	}
	expect(t, validation.ValidateUpdate(rq("BestEffort"), rq("BestEffort")), want{})
	expect(t, validation.ValidateUpdate(rq("NotBestEffort"), rq("BestEffort")),
		want{"spec.scopes", invalid, `spec.scopes: Invalid value: []core.ResourceQuotaScope{"NotBestEffort"}: field is immutable`})

	lease := &coordinationv1.Lease{Spec: &coordinationv1.LeaseSpec{LeaseDurationSeconds: proto.Int32(-1)}}
	expect(t, validation.ValidateUpdate(lease, &coordinationv1.Lease{}), want{"spec.leaseDurationSeconds", invalid, ""})
}

func TestNameFuncs(t *testing.T) {
	for _, tc := range []struct {
		name          string
		prefix        bool
		label, subdom bool
	}{
		{"web", false, true, true},
		{"web.example", false, false, true},
		{"web-", true, true, true},
		{"web-", false, false, false},
		{"Web", false, false, false},
		{strings.Repeat("a", 64), false, false, true},
	} {
		t.Run(fmt.Sprintf("%s/%t", tc.name, tc.prefix), func(t *testing.T) {
			if got := len(validation.NameIsDNSLabel(tc.name, tc.prefix)) == 0; got != tc.label {
				t.Errorf("NameIsDNSLabel = %t, want %t", got, tc.label)
			}
			if got := len(validation.NameIsDNSSubdomain(tc.name, tc.prefix)) == 0; got != tc.subdom {
				t.Errorf("NameIsDNSSubdomain = %t, want %t", got, tc.subdom)
			}
		})
	}
}

func TestValidateImageReference(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		ref     string
		wantErr string // "" for valid
		parsed  validation.ImageReference
	}{
		{"nginx", "", validation.ImageReference{Path: "nginx"}},
		{"nginx:1.14.2", "", validation.ImageReference{Path: "nginx", Tag: "1.14.2"}},
		{"library/nginx:latest", "", validation.ImageReference{Path: "library/nginx", Tag: "latest"}},
		{"docker.io/library/nginx", "", validation.ImageReference{Domain: "docker.io", Path: "library/nginx"}},
		{"localhost:5000/team/app:v1_2-rc.3", "", validation.ImageReference{Domain: "localhost:5000", Path: "team/app", Tag: "v1_2-rc.3"}},
		{"localhost/app", "", validation.ImageReference{Domain: "localhost", Path: "app"}},
		{"[::1]:5000/app", "", validation.ImageReference{Domain: "[::1]:5000", Path: "app"}},
		{"registry.k8s.io/pause:3.9@" + digest, "", validation.ImageReference{Domain: "registry.k8s.io", Path: "pause", Tag: "3.9", Digest: digest}},
		{"nginx@" + digest, "", validation.ImageReference{Path: "nginx", Digest: digest}},
		{"my_org/my__app--x", "", validation.ImageReference{Path: "my_org/my__app--x"}},
		{"", "must not be empty", validation.ImageReference{}},
		{"nginx:", "tag after ':' must not be empty", validation.ImageReference{}},
		{"NGINX", "repository name must be lowercase", validation.ImageReference{}},
		{"library/Nginx", "repository name must be lowercase", validation.ImageReference{}},
		{"nginx latest", "must not contain whitespace", validation.ImageReference{}},
		{" nginx", "must not contain whitespace", validation.ImageReference{}},
		{"nginx:-bad", "tag \"-bad\"", validation.ImageReference{}},
		{"nginx:" + strings.Repeat("a", 129), "at most 128", validation.ImageReference{}},
		{"nginx@sha256:abc", "sha256 digest must be 64 lower-case hexadecimal digits", validation.ImageReference{}},
		{"nginx@sha256:" + strings.Repeat("AB", 32), "lower-case hexadecimal", validation.ImageReference{}},
		{"nginx@md5:" + strings.Repeat("a", 32), "unsupported digest algorithm", validation.ImageReference{}},
		{"nginx@", "digest after '@' must not be empty", validation.ImageReference{}},
		{"/nginx", "must not be empty", validation.ImageReference{}},
		{"nginx/", "must not be empty", validation.ImageReference{}},
		{"a//b", "must not be empty", validation.ImageReference{}},
		{"-nginx", "repository path component \"-nginx\"", validation.ImageReference{}},
		{"nginx..x", "repository path component", validation.ImageReference{}},
		{"bad_host.com/app", "invalid registry host", validation.ImageReference{}},
		{strings.Repeat("ab", 32), "64-character hexadecimal", validation.ImageReference{}},
		{strings.Repeat("a", 256), "must not be more than 255 characters", validation.ImageReference{}},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			err := validation.ValidateImageReference(tc.ref)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateImageReference(%q) = %v, want nil", tc.ref, err)
				}
				got, _ := validation.ParseImageReference(tc.ref)
				if got != tc.parsed {
					t.Errorf("ParseImageReference(%q) = %+v, want %+v", tc.ref, got, tc.parsed)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("ValidateImageReference(%q) = %v, want an error containing %q", tc.ref, err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.ref)) {
				t.Errorf("error %q does not name the reference", err)
			}
		})
	}
}

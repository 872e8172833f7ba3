package kubeproto

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// msgb builds a protobuf message from its fields, as Kubernetes' generated code writes them.
type msgb []byte

func (m msgb) str(num protowire.Number, s string) msgb {
	m = protowire.AppendTag(m, num, protowire.BytesType)
	return protowire.AppendString(m, s)
}

func (m msgb) sub(num protowire.Number, sub msgb) msgb {
	m = protowire.AppendTag(m, num, protowire.BytesType)
	return protowire.AppendBytes(m, sub)
}

func (m msgb) varint(num protowire.Number, v uint64) msgb {
	m = protowire.AppendTag(m, num, protowire.VarintType)
	return protowire.AppendVarint(m, v)
}

func (m msgb) entry(num protowire.Number, k string, v msgb) msgb {
	return m.sub(num, msgb{}.str(1, k).sub(2, v))
}

// body wraps raw in the k8s magic and a runtime.Unknown naming apiVersion and kind.
func body(apiVersion, kind string, raw msgb) []byte {
	tm := msgb{}.str(1, apiVersion).str(2, kind)
	return append([]byte("k8s\x00"), msgb{}.sub(1, tm).sub(2, raw).str(3, "").str(4, "")...)
}

func decodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return m
}

// meta is an ObjectMeta as Kubernetes writes one with only a name and labels set: every
// non-pointer scalar is on the wire, zero or not, and so is the zero creationTimestamp.
func meta(name string, labels map[string]string) msgb {
	m := msgb{}.str(1, name).str(2, "").str(3, "").str(4, "").str(5, "").str(6, "").varint(7, 0).
		sub(8, msgb{}.varint(1, uint64(zeroTime)).varint(2, 0))
	for k, v := range labels {
		m = m.sub(11, msgb{}.str(1, k).str(2, v))
	}
	return m
}

func TestDeploymentAsKubectlCreateSendsIt(t *testing.T) {
	ports := msgb{}.str(1, "").varint(2, 0).varint(3, 80).str(4, "TCP").str(5, "")
	container := msgb{}.str(1, "nginx").str(2, "nginx:1.14.2").sub(6, ports).
		sub(8, msgb{}.entry(1, "cpu", msgb{}.str(1, "250m"))).
		str(13, "").str(14, "").varint(16, 0).varint(17, 0).varint(18, 0)
	podSpec := msgb{}.sub(2, container).str(3, "").str(6, "").varint(11, 0).varint(12, 0). // hostPID (12): unset
												sub(14, msgb{}) // securityContext: an empty struct
	template := msgb{}.sub(1, meta("", map[string]string{"app": "web"})).sub(2, podSpec)
	strategy := msgb{}.str(1, "RollingUpdate").sub(2, msgb{}.
		sub(1, msgb{}.varint(1, 0).varint(2, 0).str(3, "")). // maxUnavailable: 0
		sub(2, msgb{}.varint(1, 1).varint(2, 0).str(3, "50%")))
	spec := msgb{}.varint(1, 0). // replicas: a pointer set to 0
					sub(2, msgb{}.sub(1, msgb{}.str(1, "app").str(2, "web"))).
					sub(3, template).sub(4, strategy).varint(5, 0).varint(7, 0)
	status := msgb{}.varint(1, 0).varint(2, 0).varint(3, 0) // status is never read
	raw := msgb{}.sub(1, meta("web", map[string]string{"app": "web"})).sub(2, spec).sub(3, status)

	out, err := ToJSON(body("apps/v1", "Deployment", raw))
	if err != nil {
		t.Fatal(err)
	}
	got := decodeJSON(t, out)
	want := decodeJSON(t, []byte(`{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": {"name": "web", "labels": {"app": "web"}},
		"spec": {
			"replicas": 0,
			"selector": {"matchLabels": {"app": "web"}},
			"template": {
				"metadata": {"labels": {"app": "web"}},
				"spec": {"containers": [{"name": "nginx", "image": "nginx:1.14.2",
					"ports": [{"containerPort": 80, "protocol": "TCP"}],
					"resources": {"limits": {"cpu": "250m"}}}], "securityContext": {}}
			},
			"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "50%"}}
		}
	}`))
	// securityContext is not in the table but was empty, so it is dropped, not refused.
	delete(want["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any), "securityContext")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %s\nwant %v", out, want)
	}
}

func TestRoleKeepsTheCoreGroup(t *testing.T) {
	rule := msgb{}.str(1, "get").str(2, "").str(3, "pods")
	out, err := ToJSON(body("rbac.authorization.k8s.io/v1", "Role", msgb{}.sub(1, meta("r", nil)).sub(2, rule)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"apiGroups":[""]`) {
		t.Errorf("core group lost: %s", out)
	}
}

func TestRefusals(t *testing.T) {
	unsupported := func(err error) bool {
		var e *Error
		return errors.As(err, &e) && e.Unsupported
	}
	malformed := func(err error) bool {
		var e *Error
		return errors.As(err, &e) && !e.Unsupported
	}
	for _, tc := range []struct {
		name string
		body []byte
		want func(error) bool
		msg  string
	}{
		{"no magic", []byte("{}"), malformed, "magic"},
		{"unknown kind", body("v1", "PersistentVolumeClaim", msgb{}), unsupported, "v1 PersistentVolumeClaim"},
		{"a set field outside the table", body("v1", "Namespace", msgb{}.sub(1, meta("ns", nil).str(15, "x"))),
			unsupported, "field 15 of Kubernetes' ObjectMeta"},
		{"a set message outside the table", body("apps/v1", "Deployment", msgb{}.sub(2, msgb{}.sub(3, msgb{}.sub(2,
			msgb{}.sub(14, msgb{}.varint(1, 1000)))))), unsupported, "spec.template.spec: field 14 of Kubernetes' PodSpec"},
		{"truncated", body("v1", "Namespace", msgb{}.sub(1, meta("ns", nil)))[:20], malformed, "malformed"},
		{"wrong wire type", body("v1", "Namespace", msgb{}.varint(1, 3)), malformed, "wire type"},
		{"content encoding", append([]byte("k8s\x00"), msgb{}.str(3, "gzip")...), unsupported, "content encoding"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ToJSON(tc.body)
			if !tc.want(err) || !strings.Contains(fmtErr(err), tc.msg) {
				t.Errorf("err = %v, want one naming %q", err, tc.msg)
			}
		})
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func FuzzToJSON(f *testing.F) {
	f.Add(body("v1", "Namespace", msgb{}.sub(1, meta("ns", map[string]string{"a": "b"}))))
	f.Add(body("rbac.authorization.k8s.io/v1", "Role", msgb{}.sub(2, msgb{}.str(1, "get").str(2, ""))))
	f.Add(body("apps/v1", "Deployment", msgb{}.sub(2, msgb{}.varint(1, 3).sub(3, msgb{}.sub(2, msgb{}.sub(2, msgb{}.str(1, "c")))))))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := ToJSON(b)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil || m["kind"] == nil {
			t.Fatalf("output is not an object with a kind: %v: %s", err, out)
		}
	})
}

// kubectl create configmap/secret --from-literal: map values arrive as raw bytes; binary ones
// must reach JSON as standard base64, as Kubernetes' JSON carries []byte.
func TestConfigMapAndSecret(t *testing.T) {
	cm := msgb{}.sub(1, meta("cfg", nil)).entry(2, "a", msgb("b")).entry(3, "bin", msgb{0xfb, 0xff, 0x00}).varint(4, 0)
	got, err := ToJSON(body("v1", "ConfigMap", cm))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "cfg"},
		"data": map[string]any{"a": "b"}, "binaryData": map[string]any{"bin": "+/8A"}, "immutable": false}
	if m := decodeJSON(t, got); !reflect.DeepEqual(m, want) {
		t.Errorf("configmap:\n got %v\nwant %v", m, want)
	}

	sec := msgb{}.sub(1, meta("s", nil)).entry(2, "p", msgb("q")).str(3, "Opaque").entry(4, "plain", msgb("text"))
	got, err = ToJSON(body("v1", "Secret", sec))
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "s"},
		"data": map[string]any{"p": "cQ=="}, "type": "Opaque", "stringData": map[string]any{"plain": "text"}}
	if m := decodeJSON(t, got); !reflect.DeepEqual(m, want) {
		t.Errorf("secret:\n got %v\nwant %v", m, want)
	}
}

// TestReviews reads the reviews `kubectl auth whoami` and `auth can-i --list` send: an empty
// object whose status (a UserInfo, a rules status) is on the wire and read past.
func TestReviews(t *testing.T) {
	for _, tc := range []struct {
		apiVersion, kind string
		raw              msgb
		want             string
	}{
		{"authentication.k8s.io/v1", "SelfSubjectReview", msgb{}.sub(1, meta("", nil)).sub(2, msgb{}.sub(1, msgb{}.str(1, "").str(2, ""))),
			`{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview","metadata":{}}`},
		{"authorization.k8s.io/v1", "SelfSubjectRulesReview", msgb{}.sub(1, meta("", nil)).sub(2, msgb{}.str(1, "team")).sub(3, msgb{}.varint(3, 0).str(4, "")),
			`{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectRulesReview","metadata":{},"spec":{"namespace":"team"}}`},
	} {
		got, err := ToJSON(body(tc.apiVersion, tc.kind, tc.raw))
		if err != nil {
			t.Fatalf("%s: %v", tc.kind, err)
		}
		if !reflect.DeepEqual(decodeJSON(t, got), decodeJSON(t, []byte(tc.want))) {
			t.Errorf("%s: %s, want %s", tc.kind, got, tc.want)
		}
	}
}

// TestPriorityClass reads what `kubectl create priorityclass high --value=-5
// --preemption-policy=Never` sends: every non-pointer scalar on the wire, the value a
// negative int32 sign-extended to ten bytes.
func TestPriorityClass(t *testing.T) {
	negFive := int64(-5)
	pc := msgb{}.sub(1, meta("high", nil)).varint(2, uint64(negFive)).varint(3, 0).str(4, "").str(5, "Never")
	got, err := ToJSON(body("scheduling.k8s.io/v1", "PriorityClass", pc))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": map[string]any{"name": "high"},
		"value": float64(-5), "preemptionPolicy": "Never"}
	if m := decodeJSON(t, got); !reflect.DeepEqual(m, want) {
		t.Errorf("priorityclass:\n got %v\nwant %v", m, want)
	}
}

// A pod template's topologySpreadConstraints (PodSpec field 33) as Kubernetes writes them: every
// non-pointer scalar on the wire, the pointers only when set.
func TestTopologySpreadConstraints(t *testing.T) {
	sel := msgb{}.sub(1, msgb{}.str(1, "app").str(2, "web"))
	zone := msgb{}.varint(1, 1).str(2, "topology.kubernetes.io/zone").str(3, "DoNotSchedule").sub(4, sel).
		varint(5, 2).str(6, "Honor").str(8, "pod-template-hash")
	host := msgb{}.varint(1, 3).str(2, "kubernetes.io/hostname").str(3, "ScheduleAnyway").str(7, "Ignore")
	container := msgb{}.str(1, "nginx").str(2, "nginx:1.14.2")
	template := msgb{}.sub(2, msgb{}.sub(2, container).sub(33, zone).sub(33, host))
	raw := msgb{}.sub(1, meta("web", nil)).sub(2, msgb{}.sub(3, template))

	out, err := ToJSON(body("apps/v1", "Deployment", raw))
	if err != nil {
		t.Fatal(err)
	}
	got := decodeJSON(t, out)["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["topologySpreadConstraints"]
	want := decodeJSON(t, []byte(`{"c": [
		{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
		 "labelSelector": {"matchLabels": {"app": "web"}}, "minDomains": 2, "nodeAffinityPolicy": "Honor",
		 "matchLabelKeys": ["pod-template-hash"]},
		{"maxSkew": 3, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway", "nodeTaintsPolicy": "Ignore"}
	]}`))["c"]
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %s\nwant %v", out, want)
	}
}

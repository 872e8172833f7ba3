package runtime_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	appsv1 "kubelab.io/proto/api/apps/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestGolden decodes each testdata/*.yaml manifest, encodes it as JSON and compares with the
// .json golden file beside it, then checks the YAML → JSON → proto → JSON round trip.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			y, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			j, err := runtime.YAMLToJSON(y)
			if err != nil {
				t.Fatal(err)
			}
			d, err := scheme.Scheme.DecodeJSON(j)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Unknown) > 0 {
				t.Fatalf("unknown fields: %v", d.Unknown)
			}
			got, err := runtime.MarshalJSON(d.Object)
			if err != nil {
				t.Fatal(err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, got, "", "  "); err != nil {
				t.Fatalf("encoder wrote invalid JSON: %v\n%s", err, got)
			}
			pretty.WriteByte('\n')
			golden := strings.TrimSuffix(in, ".yaml") + ".json"
			if *update {
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("JSON differs from %s:\n got: %s\nwant: %s", golden, pretty.Bytes(), want)
			}
			// The JSON must say the same thing as the YAML, key for key (an explicit null
			// means "unset", which we leave out).
			var fromYAML, fromOurs any
			_ = json.Unmarshal(j, &fromYAML)
			_ = json.Unmarshal(got, &fromOurs)
			if !jsonEqual(dropNulls(fromYAML), fromOurs) {
				t.Errorf("JSON does not carry the manifest:\n yaml: %s\n ours: %s", j, got)
			}

			// proto round trip
			b, err := runtime.MarshalProto(d.Object)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := scheme.Scheme.New(d.GVK)
			if err := runtime.UnmarshalProto(b, again); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(again, d.Object) {
				t.Fatalf("proto round trip changed the object")
			}
			got2, _ := runtime.MarshalJSON(again)
			if !bytes.Equal(got, got2) {
				t.Errorf("JSON after proto round trip differs:\n%s\n%s", got, got2)
			}
		})
	}
}

func dropNulls(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e == nil {
				delete(x, k)
			} else {
				x[k] = dropNulls(e)
			}
		}
	case []any:
		for i := range x {
			x[i] = dropNulls(x[i])
		}
	}
	return v
}

func jsonEqual(a, b any) bool {
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return bytes.Equal(ab, bb)
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"not json", `{"apiVersion":`, "invalid JSON"},
		{"missing kind", `{"apiVersion":"v1"}`, "Object 'Kind' is missing"},
		{"unknown kind", `{"apiVersion":"v1","kind":"Widget"}`, `no kind "Widget" is registered for version "v1"`},
		{"bad apiVersion", `{"apiVersion":"a/b/c","kind":"Pod"}`, "unexpected GroupVersion string"},
		{"wrong type", `{"apiVersion":"apps/v1","kind":"Deployment","spec":{"replicas":"3"}}`, "spec.replicas: cannot unmarshal string into a field of type int32"},
		{"fraction", `{"apiVersion":"apps/v1","kind":"Deployment","spec":{"replicas":1.5}}`, "spec.replicas: cannot unmarshal number 1.5"},
		{"overflow", `{"apiVersion":"apps/v1","kind":"Deployment","spec":{"replicas":4294967296}}`, "spec.replicas: cannot unmarshal number 4294967296"},
		{"duplicate", `{"apiVersion":"v1","kind":"Pod","kind":"Pod"}`, `duplicate field "kind"`},
		{"bad time", `{"apiVersion":"v1","kind":"Pod","metadata":{"creationTimestamp":"yesterday"}}`, "metadata.creationTimestamp: invalid time"},
		{"array for object", `{"apiVersion":"v1","kind":"Pod","spec":[]}`, "spec: cannot unmarshal array into a field of type object"},
		{"object for extra", `{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview","status":{"userInfo":{"extra":{"a":{}}}}}`, "status.userInfo.extra.a: cannot unmarshal object into a field of type array"},
		{"number in extra", `{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview","status":{"userInfo":{"extra":{"a":["x",1]}}}}`, "status.userInfo.extra.a[1]: cannot unmarshal number into a field of type string"},
		{"trailing", `{"apiVersion":"v1","kind":"Pod"} {}`, "unexpected data after the top-level value"},
		{"deep", `{"apiVersion":"v1","kind":"Pod","metadata":` + strings.Repeat(`[`, 200) + strings.Repeat(`]`, 200) + `}`, "nested deeper than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := scheme.Scheme.DecodeJSON([]byte(c.in))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestUnknownFields(t *testing.T) {
	in := `{"apiVersion":"apps/v1","kind":"Deployment","spec":{"replicass":3,"template":{"spec":{"containers":[{"name":"a","imagee":"x"}]}}}}`
	d, err := scheme.Scheme.DecodeJSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"spec.replicass", "spec.template.spec.containers[0].imagee"}
	if strings.Join(d.Unknown, ",") != strings.Join(want, ",") {
		t.Fatalf("unknown = %v, want %v", d.Unknown, want)
	}
	msg := runtime.UnknownFieldsError(d.Unknown).Error()
	if msg != `strict decoding error: unknown field "spec.replicass", unknown field "spec.template.spec.containers[0].imagee"` {
		t.Fatalf("message = %s", msg)
	}
}

func TestScalarWireTypes(t *testing.T) {
	d := &appsv1.Deployment{
		Kind: "Deployment", ApiVersion: "apps/v1",
		Metadata: &metav1.ObjectMeta{Name: "x", Generation: 9007199254740993, CreationTimestamp: &metav1.Time{Seconds: 1700000000}},
		Spec: &appsv1.DeploymentSpec{
			Replicas: proto.Int32(0),
			Strategy: &appsv1.DeploymentStrategy{Type: "RollingUpdate", RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxUnavailable: &metav1.IntOrString{Type: 1, StrVal: "25%"},
				MaxSurge:       &metav1.IntOrString{IntVal: 2},
			}},
		},
	}
	got, err := runtime.MarshalJSON(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"generation":9007199254740993`,
		`"creationTimestamp":"2023-11-14T22:13:20Z"`,
		`"replicas":0`, // optional: written when set, even to zero
		`"maxUnavailable":"25%","maxSurge":2`,
		`"template":{}`,
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("missing %s in %s", want, got)
		}
	}
	back := &appsv1.Deployment{}
	if _, err := runtime.UnmarshalJSON(got, back); err != nil {
		t.Fatal(err)
	}
	d.Spec.Template = back.Spec.Template // written as {} and read back as an empty template
	if !proto.Equal(back, d) {
		t.Errorf("round trip differs:\n%v\n%v", back, d)
	}
}

func TestStringEscaping(t *testing.T) {
	s := "a\"b\\c<d>&\n\t\x01é\u2028"
	m := &metav1.ObjectMeta{Name: s}
	got, _ := runtime.MarshalJSON(m)
	want, _ := json.Marshal(map[string]string{"name": s})
	if !bytes.Equal(got, want) {
		t.Errorf("got %s want %s", got, want)
	}
}

func TestQuantityAcceptsNumbers(t *testing.T) {
	in := `{"apiVersion":"v1","kind":"ResourceQuota","spec":{"hard":{"pods":10,"cpu":"1.5"}}}`
	d, err := scheme.Scheme.DecodeJSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := runtime.MarshalJSON(d.Object)
	if want := `"hard":{"cpu":"1.5","pods":"10"}`; !strings.Contains(string(got), want) {
		t.Errorf("got %s, want it to contain %s", got, want)
	}
}

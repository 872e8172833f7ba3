package runtime

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	appsv1 "kubelab.io/proto/api/apps/v1"
	authenticationv1 "kubelab.io/proto/api/authentication/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	rbacv1 "kubelab.io/proto/api/rbac/v1"
)

// encodeBoth fails unless the fast encoder writes m as the protoreflect encoder does, bytes
// and error alike.
func encodeBoth(t *testing.T, m proto.Message) {
	t.Helper()
	fast, errF := appendJSON(nil, m, true)
	slow, errS := appendJSON(nil, m, false)
	if (errF == nil) != (errS == nil) || errF != nil && errF.Error() != errS.Error() {
		t.Fatalf("%T: fast encoder error %v, protoreflect %v", m, errF, errS)
	}
	if string(fast) != string(slow) {
		t.Fatalf("%T: fast encoder wrote\n%s\nprotoreflect\n%s", m, fast, slow)
	}
}

// TestFastEncodeTestdata: every kind the fast decoder tests know, read from every testdata
// document.
func TestFastEncodeTestdata(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range fastKinds {
			m := k()
			_, _ = UnmarshalJSON(data, m)
			encodeBoth(t, m)
		}
	}
}

// TestFastEncodeEdges: shapes no decoded document has: nil messages where the encoder must
// still write emit_empty fields, empty but non-nil lists and maps, a nil map value, and
// types the fast encoder leaves to protoreflect.
func TestFastEncodeEdges(t *testing.T) {
	empty := ""
	for _, m := range []proto.Message{
		&corev1.Pod{},
		&corev1.PodList{},
		&appsv1.DeploymentList{Items: []*appsv1.Deployment{nil, {Spec: &appsv1.DeploymentSpec{}}}},
		&rbacv1.RoleBinding{},
		&rbacv1.ClusterRoleList{Items: []*rbacv1.ClusterRole{{Rules: []*rbacv1.PolicyRule{nil}}}},
		&metav1.OwnerReference{Controller: proto.Bool(false)},
		&metav1.Preconditions{Uid: &empty},
		&metav1.ObjectMeta{Labels: map[string]string{}, Finalizers: []string{}, DeletionGracePeriodSeconds: proto.Int64(0),
			Annotations: map[string]string{"b<>&": "\u2028\xff", "a": ""}},
		&corev1.PodSpec{Overhead: map[string]*metav1.Quantity{"cpu": nil, "memory": {String_: "1Gi"}}},
		&corev1.Secret{Data: map[string][]byte{"k": []byte("v")}},
		&metav1.Time{}, &metav1.Time{Seconds: 1}, &metav1.IntOrString{Type: 1, StrVal: "x"}, &metav1.Quantity{},
		&structpb.Struct{Fields: map[string]*structpb.Value{"a": structpb.NewNumberValue(1.5), "b": structpb.NewNullValue()}},
	} {
		encodeBoth(t, m)
	}
}

// FuzzFastEncodeMatchesReflect: whatever the decoder reads (all of a document, or the part
// before an error), the fast encoder writes as the protoreflect encoder does.
func FuzzFastEncodeMatchesReflect(f *testing.F) {
	fastSeeds(f)
	for _, s := range []string{
		`{"kind":"Status","apiVersion":"v1","status":"Failure","code":409,"details":{"name":"x","causes":[{"field":"a","message":"<b>"}],"retryAfterSeconds":1}}`,
		`{"metadata":{"deletionGracePeriodSeconds":0,"ownerReferences":[{"controller":false}],"finalizers":["a"]}}`,
		`{"status":{"capacity":{"cpu":"2","memory":1e9},"conditions":[{"lastHeartbeatTime":"2024-01-02T03:04:05Z"}]}}`,
		`{"status":{"userInfo":{"username":"a","extra":{"a":["x","y"],"b":[]}}}}`,
	} {
		f.Add([]byte(s))
	}
	kinds := []func() proto.Message{
		func() proto.Message { return &corev1.Pod{} },
		func() proto.Message { return &appsv1.Deployment{} },
		func() proto.Message { return &metav1.Status{} },
		func() proto.Message { return &corev1.Node{} },
		func() proto.Message { return &authenticationv1.SelfSubjectReview{} },
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, k := range kinds {
			m := k()
			_, _ = UnmarshalJSON(data, m)
			encodeBoth(t, m)
		}
	})
}

// BenchmarkEncodeJSON encodes the Pod the apiserver's create benchmark sends
// (testdata/pod-create.json) as the apiserver encodes an answer: through WithJSON, into a
// pooled buffer; and through protoreflect alone, for comparison.
func BenchmarkEncodeJSON(b *testing.B) {
	pod := readPod(b, "testdata/pod-create.json")
	b.Run("WithJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := WithJSON(pod, func([]byte) {}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Reflect", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 4096)
		for b.Loop() {
			if _, err := appendJSON(buf[:0], pod, false); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// readPod decodes the Pod in file.
func readPod(tb testing.TB, file string) *corev1.Pod {
	data, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	pod := &corev1.Pod{}
	if _, err := UnmarshalJSON(data, pod); err != nil {
		tb.Fatal(err)
	}
	return pod
}

// TestAppendTime: formatting a time in place writes what formatting it as a string and
// escaping that writes, at the ends of the years Time can hold too.
func TestAppendTime(t *testing.T) {
	for _, sec := range []int64{1, 1767225600, -62135596800, -62135596801, 253402300799, 253402300800, 1 << 40, -1 << 40} {
		for _, layout := range []string{timeLayout, microTimeLayout} {
			tm := time.Unix(sec, 123456789)
			want := string(appendString(nil, tm.UTC().Format(layout)))
			if got := string(appendTime(nil, tm, layout)); got != want {
				t.Errorf("appendTime(%d, %q) = %s, want %s", sec, layout, got, want)
			}
		}
	}
}

// TestAppendStringASCII: every ASCII byte, alone and between plain ones, is written as
// encoding/json writes it, but for \b and \f: encoding/json writes those short since Go
// 1.22, appendString (and so what clients have seen from us) as \u0008 and \u000c.
func TestAppendStringASCII(t *testing.T) {
	for b := range utf8.RuneSelf {
		for _, s := range []string{string(rune(b)), "a" + string(rune(b)) + "z"} {
			want, _ := json.Marshal(s)
			want = bytes.ReplaceAll(want, []byte(`\b`), []byte(`\u0008`))
			want = bytes.ReplaceAll(want, []byte(`\f`), []byte(`\u000c`))
			if got := appendString(nil, s); string(got) != string(want) {
				t.Errorf("appendString(%q) = %s, want %s", s, got, want)
			}
		}
	}
}

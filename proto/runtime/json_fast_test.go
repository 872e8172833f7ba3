package runtime

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	admissionregistrationv1 "kubelab.io/proto/api/admissionregistration/v1"
	appsv1 "kubelab.io/proto/api/apps/v1"
	batchv1 "kubelab.io/proto/api/batch/v1"
	coordinationv1 "kubelab.io/proto/api/coordination/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// decodeBoth decodes data into a fresh copy of each of newMsg's messages through the fast
// decoder and through the protoreflect path, and fails unless the results, unknown fields
// and errors are the same.
func decodeBoth(t *testing.T, data []byte, newMsg func() proto.Message) {
	t.Helper()
	v, err := parseJSON(data)
	if err != nil {
		return
	}
	fast, slow := newMsg(), newMsg()
	df, ds := decoder{}, decoder{}
	errF := df.message(fast.ProtoReflect(), v, "")
	errS := ds.messageAt(slow.ProtoReflect(), v, fieldPath{d: &ds})
	if (errF == nil) != (errS == nil) || (errF != nil && errF.Error() != errS.Error()) {
		t.Fatalf("%T: fast decoder error %v, protoreflect %v\n%s", fast, errF, errS, data)
	}
	if errF != nil {
		return
	}
	if !proto.Equal(fast, slow) {
		t.Fatalf("%T: fast decoder read\n%v\nprotoreflect\n%v\nfrom %s", fast, fast, slow, data)
	}
	if len(df.unknown) != len(ds.unknown) {
		t.Fatalf("%T: unknown fields %q, protoreflect %q", fast, df.unknown, ds.unknown)
	}
	for i := range df.unknown {
		if df.unknown[i] != ds.unknown[i] {
			t.Fatalf("%T: unknown fields %q, protoreflect %q", fast, df.unknown, ds.unknown)
		}
	}
	// Whatever decodes must encode as the protoreflect result does.
	fo, ok := fast.(Object)
	if !ok {
		return
	}
	a, errA := MarshalJSON(fo)
	b, errB := MarshalJSON(slow.(Object))
	if (errA == nil) != (errB == nil) || string(a) != string(b) {
		t.Fatalf("%T: encodes as %s (%v), protoreflect result as %s (%v)", fast, a, errA, b, errB)
	}
}

var fastKinds = []func() proto.Message{
	func() proto.Message { return &corev1.Pod{} },
	func() proto.Message { return &corev1.Node{} },
	func() proto.Message { return &corev1.Namespace{} },
	func() proto.Message { return &corev1.Event{} },
	func() proto.Message { return &corev1.LimitRange{} },
	func() proto.Message { return &corev1.ResourceQuota{} },
	func() proto.Message { return &appsv1.Deployment{} },
	func() proto.Message { return &appsv1.ReplicaSet{} },
	func() proto.Message { return &batchv1.Job{} },
	func() proto.Message { return &coordinationv1.Lease{} },
	func() proto.Message { return &admissionregistrationv1.MutatingWebhookConfiguration{} },
}

func fastSeeds(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		`{"metadata":{"labels":{"a":null,"b":"c"},"annotations":{"x":1}}}`,
		`{"metadata":{"labels":[]}}`,
		`{"spec":{"containers":[null,{"name":"a","args":["x",null]}]}}`,
		`{"spec":{"containers":[{"resources":{"limits":{"cpu":1,"memory":"1Gi","x":null,"y":true}}}]}}`,
		`{"spec":{"replicas":"3"}}`, `{"spec":{"replicas":1.5}}`, `{"spec":{"replicas":4294967296}}`,
		`{"spec":{"terminationGracePeriodSeconds":30,"automountServiceAccountToken":false,"hostname":"h"}}`,
		`{"spec":{"terminationGracePeriodSeconds":"30"}}`,
		`{"metadata":{"creationTimestamp":"2024-01-02T03:04:05Z","deletionTimestamp":5}}`,
		`{"spec":{"containers":[{"ports":[{"containerPort":80,"protocol":"TCP"}],"livenessProbe":{"httpGet":{"port":"http"}}}]}}`,
		`{"spec":{"containers":[{"livenessProbe":{"httpGet":{"port":8080}}}]}}`,
		`{"webhooks":[{"clientConfig":{"caBundle":"aGVsbG8="},"rules":[{"operations":["CREATE"]}]}]}`,
		`{"webhooks":[{"clientConfig":{"caBundle":"not base64!"}}]}`,
		`{"spec":{"holderIdentity":"x","leaseDurationSeconds":15,"renewTime":"2024-01-02T03:04:05.123456Z"}}`,
		`{"unknown":1,"spec":{"containerz":[],"containers":[{"imagee":"x"}]}}`,
		`{"spec":[]}`, `[]`, `"x"`, `null`, `{"metadata":null}`,
	} {
		f.Add([]byte(s))
	}
}

// FuzzFastDecodeMatchesReflect: the fast decoder reads exactly what the protoreflect path
// reads, with the same errors and unknown fields, for every kind tried.
func FuzzFastDecodeMatchesReflect(f *testing.F) {
	fastSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, k := range fastKinds {
			decodeBoth(t, data, k)
		}
	})
}

func TestFastDecodeQuantityMessage(t *testing.T) {
	// A special meta type at the top level and as a message field.
	decodeBoth(t, []byte(`"1Gi"`), func() proto.Message { return &metav1.Quantity{} })
}

// TestDecodeDynamicMessage: a dynamicpb message (no generated struct to write into) is
// decoded through protoreflect, to the same result as its generated type.
func TestDecodeDynamicMessage(t *testing.T) {
	data := []byte(`{"metadata":{"name":"x","labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}`)
	want := &corev1.Pod{}
	if _, err := UnmarshalJSON(data, want); err != nil {
		t.Fatal(err)
	}
	got := dynamicpb.NewMessage(want.ProtoReflect().Descriptor())
	if _, err := UnmarshalJSON(data, got); err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	back := &corev1.Pod{}
	if err := proto.Unmarshal(b, back); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(back, want) {
		t.Errorf("dynamic decode gave %v, want %v", back, want)
	}
}

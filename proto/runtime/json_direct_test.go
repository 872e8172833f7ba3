package runtime

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	appsv1 "kubelab.io/proto/api/apps/v1"
	authenticationv1 "kubelab.io/proto/api/authentication/v1"
	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
)

// BenchmarkDecodeJSON decodes the Pod the apiserver's create benchmark sends
// (storagetest.Pod, which this module cannot import, written out as testdata/pod-create.json)
// as the apiserver decodes a request body: compact, through the scheme or straight into a Pod.
func BenchmarkDecodeJSON(b *testing.B) {
	pretty, err := os.ReadFile("testdata/pod-create.json")
	if err != nil {
		b.Fatal(err)
	}
	var data bytes.Buffer
	if err := json.Compact(&data, pretty); err != nil {
		b.Fatal(err)
	}
	s := NewScheme()
	s.AddKind(GroupVersionKind{Version: "v1", Kind: "Pod"}, &corev1.Pod{}, &corev1.PodList{})
	for _, c := range []struct {
		name   string
		decode func([]byte) error
	}{
		{"Scheme", func(data []byte) error { _, err := s.DecodeJSON(data); return err }},
		{"UnmarshalJSON", func(data []byte) error { _, err := UnmarshalJSON(data, &corev1.Pod{}); return err }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(data.Len()))
			for b.Loop() {
				if err := c.decode(data.Bytes()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzDirectDecodeMatchesTree: the direct decoder reads exactly what the tree decoder reads
// (the same message, unknown fields and error, even where it stops part way), through the
// scheme and straight into a message.
func FuzzDirectDecodeMatchesTree(f *testing.F) {
	fastSeeds(f)
	scannerSeeds(f)
	for _, s := range []string{
		`{"kind":"Pod","apiVersion":"v1","spec":{"containers":[{"name":"a"},{"image":1}]},"x":[}`,
		`{"kind":"Pod","apiVersion":"v1","spec":{"replicas":"x"},"metadata":{"a":1,"a":2}}`,
		`{"kind":"Deployment","apiVersion":"apps/v1","spec":{"template":{"spec":{"containers":[{"args":["a",1]}]}}}}`,
		`{"kind":"Status","apiVersion":"v1","details":{"causes":[{"field":"x"}],"retryAfterSeconds":"1"}}`,
		`{"fields":{"a":{"string_value":"x"},"b":null,"c":{"list_value":{"values":[{"number_value":1.5},null]}}}}`,
		`{"fields":{"a":{"bool_value":true,"string_value":"x"}}}`, `{"fields":{"a":1}}`, `{"fields":[]}`,
		`{"kind":1,"apiVersion":"v1"}`, `{"kind":"Pod"}`, `{"kind":"Pod","apiVersion":"v1/x/y"}`, `[1]`,
		`{"status":{"userInfo":{"extra":{"a":["x","y"],"b":[],"c":null,"d":"x","e":[1],"f":{}}}}}`,
	} {
		f.Add([]byte(s))
	}
	s := NewScheme()
	s.AddKind(GroupVersionKind{Version: "v1", Kind: "Pod"}, &corev1.Pod{}, &corev1.PodList{})
	s.AddKind(GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, &appsv1.Deployment{}, &appsv1.DeploymentList{})
	kinds := []func() proto.Message{
		func() proto.Message { return &corev1.Pod{} },
		func() proto.Message { return &appsv1.Deployment{} },
		func() proto.Message { return &metav1.Status{} },
		// UserInfo.extra is a map of messages that are lists on the wire.
		func() proto.Message { return &authenticationv1.SelfSubjectReview{} },
		// No API type has a oneof: Struct takes the direct decoder into the paths for it.
		func() proto.Message { return &structpb.Struct{} },
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, k := range kinds {
			direct, tree := k(), k()
			unknownD, errD := UnmarshalJSON(data, direct)
			unknownT, errT := unmarshalJSONTree(data, tree)
			sameDecode(t, data, direct, tree, unknownD, unknownT, errD, errT)
		}
		d, errD := s.DecodeJSON(data)
		tr, errT := s.decodeJSONTree(data)
		var objD, objT proto.Message
		var unknownD, unknownT []string
		if d != nil {
			objD, unknownD = d.Object, d.Unknown
		}
		if tr != nil {
			objT, unknownT = tr.Object, tr.Unknown
		}
		sameDecode(t, data, objD, objT, unknownD, unknownT, errD, errT)
		if d != nil && d.GVK != tr.GVK {
			t.Fatalf("%q: GVK %v, tree decoder %v", data, d.GVK, tr.GVK)
		}
	})
}

func sameDecode(t *testing.T, data []byte, direct, tree proto.Message, unknownD, unknownT []string, errD, errT error) {
	t.Helper()
	if (errD == nil) != (errT == nil) || errD != nil && (errD.Error() != errT.Error() || reflect.TypeOf(errD) != reflect.TypeOf(errT)) {
		t.Fatalf("%q: direct decoder error %v, tree decoder %v", data, errD, errT)
	}
	if (direct == nil) != (tree == nil) || direct != nil && !proto.Equal(direct, tree) {
		t.Fatalf("%q: direct decoder read\n%v\ntree decoder\n%v", data, direct, tree)
	}
	if !slices.Equal(unknownD, unknownT) {
		t.Fatalf("%q: unknown fields %q, tree decoder %q", data, unknownD, unknownT)
	}
}

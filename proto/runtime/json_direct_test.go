package runtime

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	corev1 "kubelab.io/proto/api/core/v1"
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

package runtime_test

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"kubelab.io/proto/runtime"
	"kubelab.io/proto/scheme"
)

// FuzzDecode feeds arbitrary bodies to the request decoders (YAML and JSON, as the apiserver
// reads them). A body may be refused, but must never panic, and whatever decodes must
// survive an encode/decode round trip unchanged.
func FuzzDecode(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"apiVersion":"v1","kind":"Pod","spec":{"containers":[{"ports":[{"containerPort":1e3}]}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		j, err := runtime.YAMLToJSON(body)
		if err != nil {
			return
		}
		d, err := scheme.Scheme.DecodeJSON(j)
		if err != nil {
			return
		}
		out, err := runtime.MarshalJSON(d.Object)
		if err != nil {
			t.Fatalf("decoded object does not encode: %v", err)
		}
		again, err := scheme.Scheme.DecodeJSON(out)
		if err != nil {
			t.Fatalf("our own JSON does not decode: %v\n%s", err, out)
		}
		if !proto.Equal(normalize(d.Object), normalize(again.Object)) {
			t.Fatalf("round trip changed the object:\n%s", out)
		}
	})
}

// normalize drops what JSON cannot carry: an empty message set on a field without
// emit_empty comes back unset.
func normalize(obj runtime.Object) proto.Message {
	b, _ := runtime.MarshalJSON(obj)
	out := obj.ProtoReflect().New().Interface()
	_, _ = runtime.UnmarshalJSON(b, out)
	return out
}

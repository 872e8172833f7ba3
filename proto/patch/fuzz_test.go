package patch

import (
	"bytes"
	"testing"
)

var fuzzKinds = []string{"Deployment", "Pod", "ReplicaSet", "Node", "Namespace", "Service", "Widget", ""}

func FuzzMergeJSON(f *testing.F) {
	for _, s := range [][2]string{
		{`{"a":"b"}`, `{"a":"c"}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`},
		{`[1,2]`, `{"a":"b","c":null}`},
		{`{"a":"foo"}`, `null`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`},
		{deployment, `{"spec":{"replicas":9007199254740993}}`},
		{`{"a":1e400}`, `{"b":[{"c":null}]}`},
	} {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, original, patch []byte) {
		out, err := MergeJSON(original, patch)
		if err != nil {
			if HTTPStatus(err) != 400 && HTTPStatus(err) != 500 {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if _, err := decode(out); err != nil {
			t.Fatalf("result %q is not JSON: %v", out, err)
		}
		// RFC 7386 merge patches are idempotent.
		again, err := MergeJSON(out, patch)
		if err != nil {
			t.Fatalf("re-applying: %v", err)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\n%s\n%s", out, again)
		}
	})
}

func FuzzStrategicMerge(f *testing.F) {
	seeds := []string{
		`{"spec":{"template":{"spec":{"containers":[{"image":"nginx:1.16","name":"nginx"}]}}}}`,
		`{"metadata":{"labels":{"tier":null}}}`,
		`{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"sidecar"},{"name":"nginx"}],"containers":[{"name":"nginx","$setElementOrder/env":[{"name":"B"},{"name":"A"}],"env":[{"name":"B","value":"1"}]}]}}}}`,
		`{"spec":{"template":{"spec":{"containers":[{"$patch":"delete","name":"sidecar"},{"$patch":"replace"}]}}}}`,
		`{"metadata":{"$deleteFromPrimitiveList/finalizers":["f1"],"finalizers":["f3"],"$setElementOrder/finalizers":["f3","f2"]}}`,
		`{"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate","rollingUpdate":null}}}`,
		`{"spec":{"selector":{"$patch":"replace","matchLabels":{"a":"b"}}},"status":{"conditions":[{"type":"Available","status":"False"}]}}`,
		`{"spec":{"template":{"spec":{"volumes":[{"name":"v","$retainKeys":["name"],"x":{"$patch":"delete"}}]}}}}`,
	}
	for i, s := range seeds {
		f.Add([]byte(deployment), []byte(s), uint8(i))
	}
	small := `{"metadata":{"finalizers":["a","b"],"labels":{"x":"y"}},"spec":{"containers":[{"name":"a","env":[{"name":"x"}],"ports":[{"containerPort":1}]},{"name":"b"}]}}`
	f.Add([]byte(small), []byte(`{"spec":{"$setElementOrder/containers":[{"name":"b"},{"name":"a"}],"containers":[{"name":"a","env":[{"name":"y"}]}]}}`), uint8(1))
	f.Add([]byte(small), []byte(`{"metadata":{"$deleteFromPrimitiveList/finalizers":["a"],"$setElementOrder/finalizers":["c","b"],"finalizers":["c"]}}`), uint8(1))
	f.Add([]byte(small), []byte(`{"spec":{"containers":[{"name":"b","$patch":"delete"},{"name":"c","ports":[{"containerPort":2,"$patch":"delete"}]}]}}`), uint8(1))
	f.Add([]byte(`{"spec":{"containers":[{"name":1},{"name":1.0},"x"]}}`), []byte(`{"spec":{"containers":[{"name":1e0,"a":null}]}}`), uint8(1))
	f.Fuzz(func(t *testing.T, original, patch []byte, k uint8) {
		kind := fuzzKinds[int(k)%len(fuzzKinds)]
		out, err := StrategicMergePatch(original, patch, kind)
		if err != nil {
			if HTTPStatus(err) != 400 && HTTPStatus(err) != 500 {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		v, err := decode(out)
		if err != nil {
			t.Fatalf("result %q is not JSON: %v", out, err)
		}
		if _, ok := v.(map[string]any); !ok {
			t.Fatalf("result %q is not an object", out)
		}
		// No directive survives, unless the original already had one.
		orig, _ := decode(original)
		if k := directiveKeyIn(orig); k == "" {
			if k := directiveKeyIn(v); k != "" {
				t.Fatalf("directive %q leaked into the result %s", k, out)
			}
		}
	})
}

func FuzzApplyJSONPatch(f *testing.F) {
	f.Add([]byte(`{"foo":["bar","baz"]}`), []byte(`[{"op":"add","path":"/foo/1","value":"qux"}]`))
	f.Add([]byte(`{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}`), []byte(`[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]`))
	f.Add([]byte(`{"/":9,"~1":10}`), []byte(`[{"op":"test","path":"/~01","value":10},{"op":"copy","from":"/~1","path":"/x"}]`))
	f.Add([]byte(`[1,[2]]`), []byte(`[{"op":"remove","path":"/1/0"},{"op":"replace","path":"","value":{}}]`))
	f.Fuzz(func(t *testing.T, original, patch []byte) {
		out, err := ApplyJSONPatch(original, patch)
		if err != nil {
			switch HTTPStatus(err) {
			case 400, 413, 422, 500:
			default:
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if _, err := decode(out); err != nil {
			t.Fatalf("result %q is not JSON: %v", out, err)
		}
	})
}

// directiveKeyIn returns a strategic merge patch directive key found
// anywhere in v, or "".
func directiveKeyIn(v any) string {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if isDirectiveKey(k) {
				return k
			}
			if d := directiveKeyIn(e); d != "" {
				return d
			}
		}
	case []any:
		for _, e := range v {
			if d := directiveKeyIn(e); d != "" {
				return d
			}
		}
	}
	return ""
}

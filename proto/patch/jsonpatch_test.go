package patch

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestApplyJSONPatch(t *testing.T) {
	tests := []struct {
		name       string
		doc, patch string
		want       string // when wantErr is nil
		wantErr    error
		errHas     string // substring of the error message
	}{
		// RFC 6902 appendix A.
		{name: "A.1 adding an object member",
			doc: `{"foo":"bar"}`, patch: `[{"op":"add","path":"/baz","value":"qux"}]`,
			want: `{"baz":"qux","foo":"bar"}`},
		{name: "A.2 adding an array element",
			doc: `{"foo":["bar","baz"]}`, patch: `[{"op":"add","path":"/foo/1","value":"qux"}]`,
			want: `{"foo":["bar","qux","baz"]}`},
		{name: "A.3 removing an object member",
			doc: `{"baz":"qux","foo":"bar"}`, patch: `[{"op":"remove","path":"/baz"}]`,
			want: `{"foo":"bar"}`},
		{name: "A.4 removing an array element",
			doc: `{"foo":["bar","qux","baz"]}`, patch: `[{"op":"remove","path":"/foo/1"}]`,
			want: `{"foo":["bar","baz"]}`},
		{name: "A.5 replacing a value",
			doc: `{"baz":"qux","foo":"bar"}`, patch: `[{"op":"replace","path":"/baz","value":"boo"}]`,
			want: `{"baz":"boo","foo":"bar"}`},
		{name: "A.6 moving a value",
			doc:   `{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}`,
			patch: `[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]`,
			want:  `{"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}`},
		{name: "A.7 moving an array element",
			doc: `{"foo":["all","grass","cows","eat"]}`, patch: `[{"op":"move","from":"/foo/1","path":"/foo/3"}]`,
			want: `{"foo":["all","cows","eat","grass"]}`},
		{name: "A.8 testing a value: success",
			doc:   `{"baz":"qux","foo":["a",2,"c"]}`,
			patch: `[{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]`,
			want:  `{"baz":"qux","foo":["a",2,"c"]}`},
		{name: "A.9 testing a value: error",
			doc: `{"baz":"qux"}`, patch: `[{"op":"test","path":"/baz","value":"bar"}]`,
			wantErr: ErrTestFailed, errHas: `operation 0 (test "/baz")`},
		{name: "A.10 adding a nested member object",
			doc: `{"foo":"bar"}`, patch: `[{"op":"add","path":"/child","value":{"grandchild":{}}}]`,
			want: `{"foo":"bar","child":{"grandchild":{}}}`},
		{name: "A.11 ignoring unrecognized elements",
			doc: `{"foo":"bar"}`, patch: `[{"op":"add","path":"/baz","value":"qux","xyz":123}]`,
			want: `{"foo":"bar","baz":"qux"}`},
		{name: "A.12 adding to a nonexistent target",
			doc: `{"foo":"bar"}`, patch: `[{"op":"add","path":"/baz/bat","value":"qux"}]`,
			wantErr: ErrCannotApply, errHas: `operation 0 (add "/baz/bat")`},
		{name: "A.13 invalid JSON patch document",
			doc: `{"foo":"bar"}`, patch: `[{"op":"add","path":"/baz","value":"qux","op":"remove"}]`,
			wantErr: ErrInvalidPatch, errHas: `duplicate member "op"`},
		{name: "A.14 ~ escape ordering",
			doc: `{"/":9,"~1":10}`, patch: `[{"op":"test","path":"/~01","value":10}]`,
			want: `{"/":9,"~1":10}`},
		{name: "A.15 comparing strings and numbers",
			doc: `{"/":9,"~1":10}`, patch: `[{"op":"test","path":"/~01","value":"10"}]`,
			wantErr: ErrTestFailed},
		{name: "A.16 adding an array value",
			doc: `{"foo":["bar"]}`, patch: `[{"op":"add","path":"/foo/-","value":["abc","def"]}]`,
			want: `{"foo":["bar",["abc","def"]]}`},

		// More add/remove/replace/move/copy/test.
		{name: "add replaces an existing member",
			doc: `{"a":1}`, patch: `[{"op":"add","path":"/a","value":2}]`, want: `{"a":2}`},
		{name: "add at the end index",
			doc: `{"a":[1]}`, patch: `[{"op":"add","path":"/a/1","value":2}]`, want: `{"a":[1,2]}`},
		{name: "add past the end",
			doc: `{"a":[1]}`, patch: `[{"op":"add","path":"/a/2","value":2}]`, wantErr: ErrCannotApply, errHas: "out of range"},
		{name: "add with a leading-zero index",
			doc: `{"a":[1,2]}`, patch: `[{"op":"add","path":"/a/01","value":2}]`, wantErr: ErrCannotApply},
		{name: "add whole document",
			doc: `{"a":1}`, patch: `[{"op":"add","path":"","value":[1]}]`, want: `[1]`},
		{name: "add with slash escape",
			doc: `{"metadata":{"labels":{}}}`, patch: `[{"op":"add","path":"/metadata/labels/app.kubernetes.io~1name","value":"x"}]`,
			want: `{"metadata":{"labels":{"app.kubernetes.io/name":"x"}}}`},
		{name: "add null value",
			doc: `{}`, patch: `[{"op":"add","path":"/a","value":null}]`, want: `{"a":null}`},
		{name: "add into a scalar",
			doc: `{"a":1}`, patch: `[{"op":"add","path":"/a/b","value":1}]`, wantErr: ErrCannotApply},
		{name: "remove missing member",
			doc: `{"a":1}`, patch: `[{"op":"test","path":"/a","value":1},{"op":"remove","path":"/b"}]`,
			wantErr: ErrCannotApply, errHas: `operation 1 (remove "/b")`},
		{name: "remove with -",
			doc: `{"a":[1]}`, patch: `[{"op":"remove","path":"/a/-"}]`, wantErr: ErrCannotApply},
		{name: "remove root",
			doc: `{"a":1}`, patch: `[{"op":"remove","path":""}]`, wantErr: ErrCannotApply},
		{name: "replace missing member",
			doc: `{"a":1}`, patch: `[{"op":"replace","path":"/b","value":1}]`, wantErr: ErrCannotApply},
		{name: "replace array element",
			doc: `{"a":[1,2]}`, patch: `[{"op":"replace","path":"/a/1","value":{"x":true}}]`, want: `{"a":[1,{"x":true}]}`},
		{name: "replace root",
			doc: `{"a":1}`, patch: `[{"op":"replace","path":"","value":{"b":2}}]`, want: `{"b":2}`},
		{name: "move to the same place",
			doc: `{"a":1}`, patch: `[{"op":"move","from":"/a","path":"/a"}]`, want: `{"a":1}`},
		{name: "move into own child",
			doc: `{"a":{"b":1}}`, patch: `[{"op":"move","from":"/a","path":"/a/b/c"}]`, wantErr: ErrCannotApply},
		{name: "move from missing",
			doc: `{"a":1}`, patch: `[{"op":"move","from":"/x","path":"/y"}]`, wantErr: ErrCannotApply},
		{name: "copy is deep",
			doc:   `{"a":{"b":[1]}}`,
			patch: `[{"op":"copy","from":"/a","path":"/c"},{"op":"add","path":"/c/b/-","value":2}]`,
			want:  `{"a":{"b":[1]},"c":{"b":[1,2]}}`},
		{name: "copy array element",
			doc: `{"a":[1,2]}`, patch: `[{"op":"copy","from":"/a/0","path":"/a/-"}]`, want: `{"a":[1,2,1]}`},
		{name: "test numbers compare numerically",
			doc: `{"a":1,"b":[1.0,{"c":1e2}]}`, patch: `[{"op":"test","path":"/a","value":1.0},{"op":"test","path":"/b","value":[1,{"c":100}]}]`,
			want: `{"a":1,"b":[1.0,{"c":1e2}]}`},
		{name: "test missing path",
			doc: `{"a":1}`, patch: `[{"op":"test","path":"/b","value":1}]`, wantErr: ErrTestFailed},
		{name: "test null",
			doc: `{"a":null}`, patch: `[{"op":"test","path":"/a","value":null}]`, want: `{"a":null}`},
		{name: "test objects ignore member order",
			doc: `{"a":{"x":1,"y":2}}`, patch: `[{"op":"test","path":"/a","value":{"y":2,"x":1}}]`, want: `{"a":{"x":1,"y":2}}`},
		{name: "failed test aborts the whole patch",
			doc: `{"a":1}`, patch: `[{"op":"add","path":"/b","value":2},{"op":"test","path":"/a","value":2}]`,
			wantErr: ErrTestFailed, errHas: "operation 1"},
		{name: "int64 precision",
			doc: `{"a":9007199254740993}`, patch: `[{"op":"copy","from":"/a","path":"/b"},{"op":"test","path":"/b","value":9007199254740993}]`,
			want: `{"a":9007199254740993,"b":9007199254740993}`},
		{name: "kubectl-style replicas replace",
			doc: `{"spec":{"replicas":1}}`, patch: `[{"op":"replace","path":"/spec/replicas","value":3}]`, want: `{"spec":{"replicas":3}}`},
		{name: "empty patch",
			doc: `{"a":1}`, patch: `[]`, want: `{"a":1}`},

		// Malformed patches (400).
		{name: "not JSON", doc: `{}`, patch: `[{`, wantErr: ErrInvalidPatch},
		{name: "not an array", doc: `{}`, patch: `{"op":"add","path":"/a","value":1}`, wantErr: ErrInvalidPatch},
		{name: "op not an object", doc: `{}`, patch: `["add"]`, wantErr: ErrInvalidPatch, errHas: "operation 0"},
		{name: "missing op", doc: `{}`, patch: `[{"path":"/a"}]`, wantErr: ErrInvalidPatch},
		{name: "unknown op", doc: `{}`, patch: `[{"op":"test","path":"/a","value":1},{"op":"frob","path":"/a"}]`,
			wantErr: ErrInvalidPatch, errHas: `operation 1: invalid patch: unknown operation "frob"`},
		{name: "missing path", doc: `{}`, patch: `[{"op":"remove"}]`, wantErr: ErrInvalidPatch},
		{name: "missing value", doc: `{}`, patch: `[{"op":"add","path":"/a"}]`, wantErr: ErrInvalidPatch},
		{name: "missing from", doc: `{}`, patch: `[{"op":"copy","path":"/a"}]`, wantErr: ErrInvalidPatch},
		{name: "pointer without slash", doc: `{"a":1}`, patch: `[{"op":"remove","path":"a"}]`, wantErr: ErrInvalidPatch},
		{name: "bad escape", doc: `{"a":1}`, patch: `[{"op":"remove","path":"/a~2"}]`, wantErr: ErrInvalidPatch},
		{name: "trailing data", doc: `{}`, patch: `[] x`, wantErr: ErrInvalidPatch},
		{name: "malformed ops are reported before anything applies",
			doc: `{}`, patch: `[{"op":"remove","path":"/nope"},{"op":"add"}]`, wantErr: ErrInvalidPatch, errHas: "operation 1"},
		{name: "bad original", doc: `{`, patch: `[]`, wantErr: ErrInvalidDocument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ApplyJSONPatch([]byte(tt.doc), []byte(tt.patch))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %s, %v; want an error wrapping %v", got, err, tt.wantErr)
				}
				if tt.errHas != "" && !strings.Contains(err.Error(), tt.errHas) {
					t.Errorf("error %q does not contain %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := canon(t, tt.want); string(got) != want {
				t.Errorf("got %s, want %s", got, want)
			}
		})
	}
}

func TestJSONPatchErrorClasses(t *testing.T) {
	_, err := ApplyJSONPatch([]byte(`{"a":1}`), []byte(`[{"op":"test","path":"/a","value":2}]`))
	if !errors.Is(err, ErrTestFailed) || !errors.Is(err, ErrCannotApply) || errors.Is(err, ErrInvalidPatch) {
		t.Errorf("failed test: %v should wrap ErrTestFailed and ErrCannotApply only", err)
	}
	if got := HTTPStatus(err); got != 422 {
		t.Errorf("HTTPStatus(failed test) = %d, want 422", got)
	}
	var oe *OpError
	if !errors.As(err, &oe) || oe.Index != 0 || oe.Op != "test" || oe.Path != "/a" {
		t.Errorf("errors.As OpError = %+v", oe)
	}

	_, err = ApplyJSONPatch([]byte(`{}`), []byte(`[{"op":"remove","path":"/a"}]`))
	if !errors.Is(err, ErrCannotApply) || errors.Is(err, ErrTestFailed) || HTTPStatus(err) != 422 {
		t.Errorf("missing path: %v (status %d)", err, HTTPStatus(err))
	}

	_, err = ApplyJSONPatch([]byte(`{}`), []byte(`[{"op":"nope","path":"/a"}]`))
	if !errors.Is(err, ErrInvalidPatch) || HTTPStatus(err) != 400 {
		t.Errorf("unknown op: %v (status %d)", err, HTTPStatus(err))
	}
}

func TestJSONPatchLimits(t *testing.T) {
	t.Run("too many operations", func(t *testing.T) {
		ops := strings.Repeat(`{"op":"test","path":"","value":{}},`, MaxJSONPatchOperations)
		_, err := ApplyJSONPatch([]byte(`{}`), []byte("["+ops+`{"op":"test","path":"","value":{}}]`))
		if !errors.Is(err, ErrTooManyOperations) || HTTPStatus(err) != 413 {
			t.Fatalf("got %v", err)
		}
		if _, err := ApplyJSONPatch([]byte(`{}`), []byte("["+strings.TrimSuffix(ops, ",")+"]")); err != nil {
			t.Fatalf("exactly %d operations: %v", MaxJSONPatchOperations, err)
		}
	})
	t.Run("copy size limit", func(t *testing.T) {
		// Each copy doubles the document.
		var ops []string
		for i := 0; i < 40; i++ {
			ops = append(ops, fmt.Sprintf(`{"op":"copy","from":"/a","path":"/a/%d"}`, i%2))
		}
		_, err := ApplyJSONPatch([]byte(`{"a":["xxxxxxxxxxxxxxxx","y"]}`), []byte("["+strings.Join(ops, ",")+"]"))
		if !errors.Is(err, ErrCannotApply) {
			t.Fatalf("got %v, want a copy limit error", err)
		}
	})
}

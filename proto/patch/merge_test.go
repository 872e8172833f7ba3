package patch

import (
	"errors"
	"testing"
)

func TestMergeJSON(t *testing.T) {
	tests := []struct {
		name                    string
		original, patch, result string
	}{
		// RFC 7386 appendix A.
		{"A1", `{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{"A2", `{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{"A3", `{"a":"b"}`, `{"a":null}`, `{}`},
		{"A4", `{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{"A5", `{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{"A6", `{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{"A7", `{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{"A8", `{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{"A9", `["a","b"]`, `["c","d"]`, `["c","d"]`},
		{"A10", `{"a":"b"}`, `["c"]`, `["c"]`},
		{"A11", `{"a":"foo"}`, `null`, `null`},
		{"A12", `{"a":"foo"}`, `"bar"`, `"bar"`},
		{"A13", `{"e":null}`, `{"a":1}`, `{"e":null,"a":1}`},
		{"A14", `[1,2]`, `{"a":"b","c":null}`, `{"a":"b"}`},
		{"A15", `{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},

		// Kubernetes usage.
		{"scale subresource", `{"kind":"Scale","spec":{"replicas":1},"status":{"replicas":1}}`,
			`{"spec":{"replicas":5}}`, `{"kind":"Scale","spec":{"replicas":5},"status":{"replicas":1}}`},
		{"lists are replaced, not merged", `{"spec":{"containers":[{"name":"a","image":"1"},{"name":"b"}]}}`,
			`{"spec":{"containers":[{"name":"a","image":"2"}]}}`, `{"spec":{"containers":[{"name":"a","image":"2"}]}}`},
		{"int64 precision", `{"a":9007199254740993}`, `{"b":-9223372036854775808}`, `{"a":9007199254740993,"b":-9223372036854775808}`},
		{"directives are plain keys", `{}`, `{"$patch":"delete"}`, `{"$patch":"delete"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MergeJSON([]byte(tt.original), []byte(tt.patch))
			if err != nil {
				t.Fatal(err)
			}
			if want := canon(t, tt.result); string(got) != want {
				t.Errorf("got %s, want %s", got, want)
			}
		})
	}
}

func TestMergeJSONErrors(t *testing.T) {
	tests := []struct {
		name, original, patch string
		want                  error
	}{
		{"malformed patch", `{}`, `{"a":`, ErrInvalidPatch},
		{"empty patch", `{}`, ``, ErrInvalidPatch},
		{"two values", `{}`, `{}{}`, ErrInvalidPatch},
		{"malformed original", `{"a"`, `{}`, ErrInvalidDocument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := MergeJSON([]byte(tt.original), []byte(tt.patch))
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want an error wrapping %v", err, tt.want)
			}
		})
	}
}
